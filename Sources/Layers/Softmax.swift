/// Softmax over the last axis, PyTorch `torch.softmax(x, dim=-1)`, numerically stable:
/// `y[r, j] = exp(x[r, j] - m_r) / sum_k exp(x[r, k] - m_r)` with `m_r = max_j x[r, j]`.
///
/// Shapes: N rows, L entries per row (the attention scores of one query are one row).
/// `exp` is `FastMath.exp` (vectorised); rows of -inf only (fully masked) give NaN as in PyTorch.
public enum Softmax {
    /// y (N, L) <- x (N, L). `y` may alias `x` (in place).
    public static func forward(
        y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, rows n: Int, length l: Int
    ) {
        for r in 0..<n {
            let xr = x + r &* l, yr = y + r &* l
            let m = FastMath.maximum(xr, count: l)
            for j in 0..<l { yr[j] = FastMath.exp(xr[j] - m) }
            let inverse = 1 / FastMath.sum(yr, count: l)
            for j in 0..<l { yr[j] *= inverse }
        }
    }

    /// Accumulates `dx += y * (dy - sum_j dy_j y_j)` per row. dy (N, L), y (N, L) the forward output.
    public static func backward(
        dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, y: UnsafePointer<Float>,
        rows n: Int, length l: Int
    ) {
        for r in 0..<n {
            let o = r &* l
            let dyr = dy + o, yr = y + o, dxr = dx + o
            let s = FastMath.dot(dyr, yr, count: l)
            for j in 0..<l { dxr[j] += yr[j] * (dyr[j] - s) }
        }
    }
}
