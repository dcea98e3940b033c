import Tensors

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
        RowParallel.run(rows: b, width: c &* p) { images in
            for i in images {
                normalizeImage(y: y + i &* c &* p, mean: mean + i &* p, rstd: rstd + i &* p, x: x + i &* c &* p,
                               weight: weight, bias: bias, channels: c, pixels: p, eps: eps)
            }
        }
    }

    /// One image of `forward`: y (C, P), mean (P), rstd (P) <- x (C, P).
    private static func normalizeImage(
        y yb: UnsafeMutablePointer<Float>, mean mb: UnsafeMutablePointer<Float>, rstd sb: UnsafeMutablePointer<Float>,
        x xb: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
        channels c: Int, pixels p: Int, eps: Float
    ) {
        let inverseCount = 1 / Float(c)
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

    /// Accumulates, per pixel with `xhat = (x - mean) rstd` and `g = dy * weight[c]`:
    /// `dx += rstd (g - mean_c(g) - xhat mean_c(g xhat))`, `dWeight[c] += sum_{b,pixels} dy xhat`,
    /// `dBias[c] += sum_{b,pixels} dy` (each skipped when nil).
    /// dy (B, C, P), x (B, C, P), mean (B, P), rstd (B, P), weight (C).
    public static func backward(
        dx: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>?, dBias: UnsafeMutablePointer<Float>?,
        dy: UnsafePointer<Float>, x: UnsafePointer<Float>, mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
        weight: UnsafePointer<Float>, batch b: Int, channels c: Int, pixels p: Int
    ) {
        // Per image: the weight and bias gradient contributions (C each), added in image order
        // afterwards, so the sums are the same for any thread count.
        let partials = UnsafeMutablePointer<Float>.allocate(capacity: 2 &* b &* c)
        defer { partials.deallocate() }
        RowParallel.run(rows: b, width: c &* p) { images in
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 3 &* p)
            defer { scratch.deallocate() }
            for i in images {
                backwardImage(dx: dx.map { $0 + i &* c &* p }, partials: partials + 2 &* i &* c, dy: dy + i &* c &* p,
                              x: x + i &* c &* p, mean: mean + i &* p, rstd: rstd + i &* p, weight: weight,
                              scratch: scratch, channels: c, pixels: p)
            }
        }
        for i in 0..<b {
            let image = partials + 2 &* i &* c
            if let dWeight { for k in 0..<c { dWeight[k] += image[k] } }
            if let dBias { for k in 0..<c { dBias[k] += image[c &+ k] } }
        }
    }

    /// One image of `backward`: dx (C, P) accumulated; partials (2, C) <- the image's dWeight and
    /// dBias terms. Scratch (3 P): xhat of one channel, sum_c g, sum_c g xhat.
    private static func backwardImage(
        dx dxb: UnsafeMutablePointer<Float>?, partials: UnsafeMutablePointer<Float>, dy dyb: UnsafePointer<Float>,
        x xb: UnsafePointer<Float>, mean mb: UnsafePointer<Float>, rstd sb: UnsafePointer<Float>,
        weight: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>, channels c: Int, pixels p: Int
    ) {
        let xhat = scratch, sumG = scratch + p, sumGX = scratch + 2 &* p
        let inverseCount = 1 / Float(c)
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
            partials[k] = FastMath.dot(dyk, xhat, count: p)
            partials[c &+ k] = FastMath.sum(dyk, count: p)
        }
        guard let dxb else { return }
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
