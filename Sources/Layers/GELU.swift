import Tensors

/// GELU, exact (erf) form, PyTorch `nn.GELU()` (approximate="none"):
/// `y = x Phi(x) = x (1 + erf(x / sqrt 2)) / 2`, `dy/dx = Phi(x) + x phi(x)` with
/// `phi(x) = exp(-x^2 / 2) / sqrt(2 pi)`. Phi comes from `FastMath.normalCDF` (vectorised, a few
/// 1e-7 relative error, accurate in the lower tail).
///
/// Shapes: any, flattened to n elements. Large maps run on the BLAS threads' cores (`RowParallel`).
public enum GELU {
    /// y (n) <- x (n). `y` may alias `x`: results go through a 16 KB stack buffer, so the loop
    /// never sees overlapping pointers and always runs vectorised (in place it would fall back to
    /// scalar code, about 5x slower).
    public static func forward(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, count n: Int) {
        let chunk = 4096
        RowParallel.elements(n, block: chunk) { first, count in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: chunk) { buffer in
                let tmp = buffer.baseAddress!
                for start in stride(from: first, to: first + count, by: chunk) {
                    let length = min(chunk, first + count - start)
                    forwardSerial(y: tmp, x: x + start, count: length)
                    (y + start).update(from: tmp, count: length)
                }
            }
        }
    }

    /// Accumulates `dx += dy (Phi(x) + x phi(x))`. dy (n), x (n) the forward input.
    public static func backward(
        dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, x: UnsafePointer<Float>, count n: Int
    ) {
        RowParallel.elements(n) { start, count in
            let (dx, dy, x) = (dx + start, dy + start, x + start)
            for i in 0..<count { dx[i] += dy[i] * derivative(x[i]) }
        }
    }

    /// y (n) <- GELU(x (n)) on the calling thread, for tiles a caller already spreads over the
    /// cores. `y` must not alias `x`.
    public static func forwardSerial(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, count n: Int) {
        for i in 0..<n {
            let v = x[i]
            y[i] = v * FastMath.normalCDF(v)
        }
    }

    /// y (n) <- GELU(x (n)), then x (n) <- GELU'(x): for a caller whose backward needs the input only
    /// for this layer's gradient, so the derivative (a few operations more than the forward) replaces
    /// it and backward becomes a product (`backward(dx:dy:derivative:count:)`). `y` must not alias `x`.
    public static func forwardKeepingDerivative(y: UnsafeMutablePointer<Float>, x: UnsafeMutablePointer<Float>,
                                                count n: Int) {
        precondition(UnsafeMutableRawPointer(y) != UnsafeMutableRawPointer(x), "GELU output must not alias its input")
        RowParallel.elements(n) { start, count in
            forwardKeepingDerivativeSerial(y: y + start, x: x + start, count: count)
        }
    }

    /// `forwardKeepingDerivative` on the calling thread.
    public static func forwardKeepingDerivativeSerial(y: UnsafeMutablePointer<Float>, x: UnsafeMutablePointer<Float>,
                                                      count n: Int) {
        for i in 0..<n {
            let v = x[i], (cdf, slope) = cdfAndDerivative(v)
            y[i] = v * cdf
            x[i] = slope
        }
    }

    /// Accumulates `dx += dy * derivative`, the derivative kept by `forwardKeepingDerivative`.
    public static func backward(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>,
                                derivative: UnsafePointer<Float>, count n: Int) {
        RowParallel.elements(n) { start, count in
            let (dx, dy, d) = (dx + start, dy + start, derivative + start)
            for i in 0..<count { dx[i] += dy[i] * d[i] }
        }
    }

    /// g (n) *= GELU'(x (n)) on the calling thread: the chain rule in place on a gradient tile.
    public static func scaleByDerivative(_ g: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, count n: Int) {
        for i in 0..<n { g[i] *= derivative(x[i]) }
    }

    /// g (n) *= derivative (n), the derivative kept by `forwardKeepingDerivative`: the chain rule in
    /// place. Large maps run on the BLAS threads' cores.
    public static func scaleByKeptDerivative(_ g: UnsafeMutablePointer<Float>, derivative: UnsafePointer<Float>,
                                             count n: Int) {
        RowParallel.elements(n) { start, count in
            let (g, d) = (g + start, derivative + start)
            for i in 0..<count { g[i] *= d[i] }
        }
    }

    /// dGELU/dx = Phi(x) + x phi(x).
    @inline(__always)
    static func derivative(_ v: Float) -> Float { cdfAndDerivative(v).derivative }

    /// (Phi(x), Phi(x) + x phi(x)) sharing one exp.
    @inline(__always)
    static func cdfAndDerivative(_ v: Float) -> (cdf: Float, derivative: Float) {
        let inverseSqrtTwoPi: Float = 0.398_942_28
        let gaussian = FastMath.gaussianKernel(v)
        let cdf = FastMath.normalCDF(v, gaussian: gaussian)
        return (cdf, cdf + v * (gaussian * inverseSqrtTwoPi))
    }
}
