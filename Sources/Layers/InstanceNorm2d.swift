/// Instance normalisation on NCHW, PyTorch `nn.InstanceNorm2d(C, affine=True)` (eps 1e-5, no
/// running statistics: training and inference both normalise with the statistics of the image
/// itself). For every image b and channel c, over its P pixels:
/// `u = mean x`, `s = mean (x - u)^2` (biased), `y = weight[c] (x - u) / sqrt(s + eps) + bias[c]`.
///
/// Chosen over batch normalisation for the UNet baseline: its statistics are per image, so the
/// result does not depend on how a global batch is split over ranks (DESIGN §2), and no
/// statistics need an all-reduce.
///
/// Shapes: B batch, C channels, P = H * W pixels. x, y (B, C, P); weight, bias (C); saved for
/// backward: mean (B, C), rstd (B, C) = `1 / sqrt(s + eps)`.
public enum InstanceNorm2d {
    /// PyTorch's default epsilon.
    public static let defaultEps: Float = 1e-5

    /// y (B, C, P) <- x (B, C, P), weight (C), bias (C); writes mean (B, C), rstd (B, C).
    /// `y` may alias `x`.
    public static func forward(
        y: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
        x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
        batch b: Int, channels c: Int, pixels p: Int, eps: Float = defaultEps
    ) {
        let inverseCount = 1 / Float(p)
        for plane in 0..<(b &* c) {
            let xp = x + plane &* p, yp = y + plane &* p
            let u = FastMath.sum(xp, count: p) * inverseCount
            let squares = FastMath.sumOfSquaredDeviations(xp, from: u, count: p)
            let r = 1 / (squares * inverseCount + eps).squareRoot()
            mean[plane] = u
            rstd[plane] = r
            let scale = r * weight[plane % c], shift = bias[plane % c]
            for q in 0..<p { yp[q] = (xp[q] - u) * scale + shift }
        }
    }

    /// Accumulates, per plane with `xhat = (x - mean) rstd`:
    /// `dx += weight[c] rstd (dy - mean(dy) - xhat mean(dy xhat))`,
    /// `dWeight[c] += sum_{b, pixels} dy xhat`, `dBias[c] += sum_{b, pixels} dy` (each skipped when nil).
    /// dy (B, C, P), x (B, C, P), mean (B, C), rstd (B, C), weight (C).
    public static func backward(
        dx: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>?, dBias: UnsafeMutablePointer<Float>?,
        dy: UnsafePointer<Float>, x: UnsafePointer<Float>, mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
        weight: UnsafePointer<Float>, batch b: Int, channels c: Int, pixels p: Int
    ) {
        let inverseCount = 1 / Float(p)
        for plane in 0..<(b &* c) {
            let xp = x + plane &* p, dyp = dy + plane &* p
            let u = mean[plane], r = rstd[plane], k = plane % c
            var sumDy: Float = 0, sumDyXhat: Float = 0
            for q in 0..<p {
                sumDy += dyp[q]
                sumDyXhat += dyp[q] * (xp[q] - u) * r
            }
            dWeight?[k] += sumDyXhat
            dBias?[k] += sumDy
            guard let dx else { continue }
            let dxp = dx + plane &* p, meanDy = sumDy * inverseCount, meanDyXhat = sumDyXhat * inverseCount
            let scale = weight[k] * r
            for q in 0..<p { dxp[q] += scale * (dyp[q] - meanDy - (xp[q] - u) * r * meanDyXhat) }
        }
    }
}
