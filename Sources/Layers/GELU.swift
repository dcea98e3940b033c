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
                    let length = min(chunk, first + count - start), src = x + start
                    for i in 0..<length {
                        let v = src[i]
                        tmp[i] = v * FastMath.normalCDF(v)
                    }
                    (y + start).update(from: tmp, count: length)
                }
            }
        }
    }

    /// Accumulates `dx += dy (Phi(x) + x phi(x))`. dy (n), x (n) the forward input.
    public static func backward(
        dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, x: UnsafePointer<Float>, count n: Int
    ) {
        let inverseSqrtTwoPi: Float = 0.398_942_28
        RowParallel.elements(n) { start, count in
            let (dx, dy, x) = (dx + start, dy + start, x + start)
            for i in 0..<count {
                let v = x[i]
                let gaussian = FastMath.gaussianKernel(v)
                let derivative = FastMath.normalCDF(v, gaussian: gaussian) + v * (gaussian * inverseSqrtTwoPi)
                dx[i] += dy[i] * derivative
            }
        }
    }
}
