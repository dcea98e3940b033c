/// Max pooling with kernel 2 and stride 2 on NCHW, PyTorch `nn.MaxPool2d(2)` (no padding, floor
/// mode: an odd last row or column is dropped):
/// `y[b, c, i, j] = max_{di, dj in 0..<2} x[b, c, 2i + di, 2j + dj]`.
/// Ties go to the first element in row-major window order and NaN wins, as PyTorch's CPU
/// kernel (`val > max || isnan(val)`). The position of every maximum is saved for backward.
///
/// Shapes: B batch, C channels, H x W input grid, Ho = H / 2, Wo = W / 2 (floor).
/// x (B, C, H, W), y (B, C, Ho, Wo), indices (B, C, Ho, Wo): flat index `h * W + w` of the maximum
/// within its (H, W) plane.
public enum MaxPool2d {
    /// y (B, C, Ho, Wo), indices (B, C, Ho, Wo) <- x (B, C, H, W).
    public static func forward(
        y: UnsafeMutablePointer<Float>, indices: UnsafeMutablePointer<Int32>, x: UnsafePointer<Float>,
        batch b: Int, channels c: Int, height h: Int, width w: Int
    ) {
        let ho = h / 2, wo = w / 2
        precondition(ho > 0 && wo > 0, "max pooling needs at least a 2 x 2 grid, got \(h) x \(w)")
        for plane in 0..<(b &* c) {
            let xp = x + plane &* h &* w, yp = y + plane &* ho &* wo, ip = indices + plane &* ho &* wo
            for i in 0..<ho {
                for j in 0..<wo {
                    let first = (2 &* i) &* w &+ 2 &* j
                    var best = first, value = xp[first]
                    for step in 1..<4 {
                        let candidate = first &+ (step >> 1) &* w &+ (step & 1)
                        let v = xp[candidate]
                        if v > value || v.isNaN { (best, value) = (candidate, v) }
                    }
                    yp[i &* wo &+ j] = value
                    ip[i &* wo &+ j] = Int32(best)
                }
            }
        }
    }

    /// Accumulates `dx[b, c, indices[b, c, i, j]] += dy[b, c, i, j]`; the rest of dx is untouched.
    /// dy (B, C, Ho, Wo), indices (B, C, Ho, Wo) from forward, dx (B, C, H, W).
    public static func backward(
        dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, indices: UnsafePointer<Int32>,
        batch b: Int, channels c: Int, height h: Int, width w: Int
    ) {
        let outPlane = (h / 2) &* (w / 2)
        for plane in 0..<(b &* c) {
            let dxp = dx + plane &* h &* w, dyp = dy + plane &* outPlane, ip = indices + plane &* outPlane
            for q in 0..<outPlane { dxp[Int(ip[q])] += dyp[q] }
        }
    }
}
