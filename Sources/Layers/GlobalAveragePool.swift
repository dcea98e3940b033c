/// Global average pooling over the grid, PyTorch `x.mean(dim=(2, 3))` (`nn.AdaptiveAvgPool2d(1)`
/// flattened): `y[b, c] = (1 / P) sum_p x[b, c, p]`.
///
/// Shapes: B batch, C channels, P = H W pixels; x (B, C, P), y (B, C).
public enum GlobalAveragePool {
    /// y (B, C) <- x (B, C, P).
    public static func forward(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, batch b: Int, channels c: Int,
                               pixels p: Int) {
        precondition(p > 0, "global average pooling of an empty grid")
        let scale = 1 / Float(p)
        for plane in 0..<(b &* c) {
            let xp = x + plane &* p
            var sum: Float = 0
            for i in 0..<p { sum += xp[i] }
            y[plane] = sum * scale
        }
    }

    /// Accumulates `dx += dy / P` (broadcast over each plane). dy (B, C), dx (B, C, P).
    public static func backward(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, batch b: Int,
                                channels c: Int, pixels p: Int) {
        let scale = 1 / Float(p)
        for plane in 0..<(b &* c) {
            let g = dy[plane] * scale, dp = dx + plane &* p
            for i in 0..<p { dp[i] += g }
        }
    }
}
