import Foundation

/// Softmax over the channel axis of NCHW, PyTorch `torch.softmax(x, dim=1)`, stable (per-pixel
/// max subtracted): the class probabilities of segmentation logits.
///
/// Shapes: B batch, K channels (classes), P = H * W pixels. Loops run over contiguous pixels of
/// one channel plane, so they vectorise.
public enum ChannelSoftmax {
    /// y (B, K, P) <- x (B, K, P); also writes `logSumExp` (B, P) = `log sum_k exp(x_k)` when
    /// given (cross-entropy needs it). `y` may alias `x`.
    public static func forward(
        y: UnsafeMutablePointer<Float>, logSumExp: UnsafeMutablePointer<Float>?, x: UnsafePointer<Float>,
        batch b: Int, channels k: Int, pixels p: Int
    ) {
        precondition(k >= 1, "softmax over an empty channel axis")
        // Scratch (P) each: per-pixel max and sum of exponentials.
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 2 &* p)
        defer { scratch.deallocate() }
        let m = scratch, s = scratch + p
        for i in 0..<b {
            let xb = x + i &* k &* p, yb = y + i &* k &* p
            m.update(from: xb, count: p)
            for c in 1..<k {
                let xc = xb + c &* p
                for q in 0..<p { m[q] = xc[q] > m[q] ? xc[q] : m[q] }
            }
            s.update(repeating: 0, count: p)
            for c in 0..<k {
                let xc = xb + c &* p, yc = yb + c &* p
                for q in 0..<p {
                    let e = FastMath.exp(xc[q] - m[q])
                    yc[q] = e
                    s[q] += e
                }
            }
            if let logSumExp {
                let l = logSumExp + i &* p
                for q in 0..<p { l[q] = m[q] + Foundation.log(s[q]) }
            }
            for q in 0..<p { s[q] = 1 / s[q] }
            for c in 0..<k {
                let yc = yb + c &* p
                for q in 0..<p { yc[q] *= s[q] }
            }
        }
    }

    /// Accumulates `dx += y * (dy - sum_k dy_k y_k)` per pixel. dy (B, K, P), y (B, K, P) the
    /// forward output.
    public static func backward(
        dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, y: UnsafePointer<Float>,
        batch b: Int, channels k: Int, pixels p: Int
    ) {
        let dot = UnsafeMutablePointer<Float>.allocate(capacity: p)   // (P) sum_k dy_k y_k
        defer { dot.deallocate() }
        for i in 0..<b {
            let o = i &* k &* p
            dot.update(repeating: 0, count: p)
            for c in 0..<k {
                let dyc = dy + (o &+ c &* p), yc = y + (o &+ c &* p)
                for q in 0..<p { dot[q] += dyc[q] * yc[q] }
            }
            for c in 0..<k {
                let dyc = dy + (o &+ c &* p), yc = y + (o &+ c &* p), dxc = dx + (o &+ c &* p)
                for q in 0..<p { dxc[q] += yc[q] * (dyc[q] - dot[q]) }
            }
        }
    }
}
