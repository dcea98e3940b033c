/// ReLU, PyTorch `nn.ReLU()`: `y = max(x, 0)`; gradient 1 where x > 0, 0 at x <= 0
/// (PyTorch's convention at the kink). NaN inputs stay NaN.
///
/// Shapes: any, flattened to n elements.
public enum ReLU {
    /// y (n) <- x (n). `y` may alias `x` (in place, as `nn.ReLU(inplace=True)`).
    public static func forward(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, count n: Int) {
        for i in 0..<n {
            let v = x[i]
            y[i] = v < 0 ? 0 : v
        }
    }

    /// Accumulates `dx += dy` where `y > 0`. dy (n); y (n) the forward output, or equally its
    /// input (y > 0 exactly where x > 0), so an in-place forward loses nothing.
    public static func backward(
        dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, y: UnsafePointer<Float>, count n: Int
    ) {
        for i in 0..<n { dx[i] += y[i] > 0 ? dy[i] : 0 }
    }

    /// g (n) <- g where y > 0, else 0: the chain rule in place on a gradient tile.
    public static func maskGradient(_ g: UnsafeMutablePointer<Float>, y: UnsafePointer<Float>, count n: Int) {
        for i in 0..<n { g[i] = y[i] > 0 ? g[i] : 0 }
    }
}
