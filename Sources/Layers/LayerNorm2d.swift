/// SAM's `LayerNorm2d` (segment_anything/modeling/common.py at dca509f): for every pixel of an
/// NCHW tensor, normalise over the channels: `u = mean_c x`, `s = mean_c (x - u)^2`,
/// `y = weight[c] * (x - u) / sqrt(s + eps) + bias[c]` (eps 1e-6 in SAM).
///
/// Shapes: B batch, C channels, P = H * W pixels. Saved for backward: `mean` (B, P) and
/// `rstd` (B, P) = `1 / sqrt(s + eps)`. Loops run over contiguous pixels, so they vectorise.
public enum LayerNorm2d {
    /// y (B, C, P) <- x (B, C, P), weight (C), bias (C); writes mean (B, P), rstd (B, P).
    /// `y` may alias `x`.
    public static func forward(
        y: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
        x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
        batch b: Int, channels c: Int, pixels p: Int, eps: Float
    ) {
        let inverseCount = 1 / Float(c)
        for i in 0..<b {
            let xb = x + i &* c &* p, yb = y + i &* c &* p
            let mb = mean + i &* p, sb = rstd + i &* p
            mb.update(repeating: 0, count: p)
            for k in 0..<c {
                let xk = xb + k &* p
                for q in 0..<p { mb[q] += xk[q] }
            }
            for q in 0..<p { mb[q] *= inverseCount }
            sb.update(repeating: 0, count: p)
            for k in 0..<c {
                let xk = xb + k &* p
                for q in 0..<p {
                    let d = xk[q] - mb[q]
                    sb[q] += d * d
                }
            }
            for q in 0..<p { sb[q] = 1 / (sb[q] * inverseCount + eps).squareRoot() }
            for k in 0..<c {
                let xk = xb + k &* p, yk = yb + k &* p
                let w = weight[k], shift = bias[k]
                for q in 0..<p { yk[q] = (xk[q] - mb[q]) * sb[q] * w + shift }
            }
        }
    }

    /// Accumulates, per pixel with `xhat = (x - mean) rstd` and `g = dy * weight[c]`:
    /// `dx += rstd (g - mean_c(g) - xhat mean_c(g xhat))`, `dWeight[c] += sum_{b,pixels} dy xhat`,
    /// `dBias[c] += sum_{b,pixels} dy` (each skipped when nil).
    /// dy (B, C, P), x (B, C, P), mean (B, P), rstd (B, P), weight (C).
    public static func backward(
        dx: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>?, dBias: UnsafeMutablePointer<Float>?,
        dy: UnsafePointer<Float>, x: UnsafePointer<Float>, mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
        weight: UnsafePointer<Float>, batch b: Int, channels c: Int, pixels p: Int
    ) {
        // Scratch (P) each: xhat of one channel, sum_c g, sum_c g xhat.
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 3 &* p)
        defer { scratch.deallocate() }
        let xhat = scratch, sumG = scratch + p, sumGX = scratch + 2 &* p
        let inverseCount = 1 / Float(c)
        for i in 0..<b {
            let xb = x + i &* c &* p, dyb = dy + i &* c &* p
            let mb = mean + i &* p, sb = rstd + i &* p
            sumG.update(repeating: 0, count: 2 &* p)
            for k in 0..<c {
                let xk = xb + k &* p, dyk = dyb + k &* p
                let w = weight[k]
                for q in 0..<p {
                    xhat[q] = (xk[q] - mb[q]) * sb[q]
                    let g = dyk[q] * w
                    sumG[q] += g
                    sumGX[q] += g * xhat[q]
                }
                if let dWeight { dWeight[k] += FastMath.dot(dyk, xhat, count: p) }
                if let dBias { dBias[k] += FastMath.sum(dyk, count: p) }
            }
            guard let dx else { continue }
            let dxb = dx + i &* c &* p
            for k in 0..<c {
                let xk = xb + k &* p, dyk = dyb + k &* p, dxk = dxb + k &* p
                let w = weight[k]
                for q in 0..<p {
                    let h = (xk[q] - mb[q]) * sb[q]
                    dxk[q] += sb[q] * (dyk[q] * w - (sumG[q] + h * sumGX[q]) * inverseCount)
                }
            }
        }
    }
}
