import Foundation

/// Gaussian smoothing of a 2D field with zero ("constant") boundary, as
/// `scipy.ndimage.gaussian_filter(x, sigma, mode="constant", cval=0)` (truncate 4): separable,
/// a row pass then a column pass with the same normalised 1D kernel.
///
/// Shapes: field H x W, row-major.
public enum GaussianFilter {
    /// The normalised 1D kernel of radius Int(truncate * sigma + 0.5).
    public static func kernel(sigma: Float, truncate: Float = 4) -> [Float] {
        precondition(sigma > 0, "sigma \(sigma)")
        let radius = Int(truncate * sigma + 0.5)
        var w = (-radius...radius).map { exp(-0.5 * Float($0 * $0) / (sigma * sigma)) }
        let sum = w.reduce(0, +)
        for i in w.indices { w[i] /= sum }
        return w
    }

    /// Smooths `field` (H x W) in place; `scratch` needs H x W floats.
    public static func smooth(_ field: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                              height: Int, width: Int, sigma: Float) {
        let w = kernel(sigma: sigma)
        let radius = w.count / 2
        w.withUnsafeBufferPointer { wb in
            let k = wb.baseAddress!
            // Row pass as shifted axpys: scratch[r][c] = sum_t k[t] field[r][c + t - radius], in-image taps only.
            scratch.update(repeating: 0, count: height &* width)
            let firstTap = max(0, radius &- width &+ 1), lastTap = min(2 &* radius, radius &+ width &- 1)
            for r in 0..<height {
                let src = field + r &* width, dst = scratch + r &* width
                for t in firstTap...lastTap {
                    let shift = t &- radius, weight = k[t]
                    let lo = max(0, -shift), hi = min(width, width &- shift)
                    for c in lo..<hi { dst[c] += weight * src[c &+ shift] }
                }
            }
            // Column pass as row axpys: field[r] = sum_t k[t] scratch[r + t - radius].
            field.update(repeating: 0, count: height &* width)
            for r in 0..<height {
                let lo = max(0, r &- radius), hi = min(height &- 1, r &+ radius)
                let dst = field + r &* width
                for s in lo...hi {
                    let weight = k[s &- r &+ radius], src = scratch + s &* width
                    for c in 0..<width { dst[c] += weight * src[c] }
                }
            }
        }
    }
}

/// Plain 2D convolution with the outer-product kernel: the test twin of `GaussianFilter.smooth`.
public enum NaiveGaussianFilter {
    public static func smooth(_ field: [Float], height: Int, width: Int, sigma: Float) -> [Float] {
        let k = GaussianFilter.kernel(sigma: sigma), radius = k.count / 2
        var out = [Float](repeating: 0, count: field.count)
        for r in 0..<height {
            for c in 0..<width {
                var acc: Double = 0
                for dr in -radius...radius {
                    for dc in -radius...radius {
                        let rr = r + dr, cc = c + dc
                        guard rr >= 0, rr < height, cc >= 0, cc < width else { continue }
                        acc += Double(k[dr + radius]) * Double(k[dc + radius]) * Double(field[rr * width + cc])
                    }
                }
                out[r * width + c] = Float(acc)
            }
        }
        return out
    }
}
