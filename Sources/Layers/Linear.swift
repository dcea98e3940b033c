import Tensors

/// Fully connected layer, PyTorch `nn.Linear`:
/// `y[N, O] = x[N, I] @ W[O, I]^T + b[O]`.
///
/// Shapes: N rows (any leading dims flattened), I input features, O output features.
public enum Linear {
    /// y (N, O) <- x (N, I), weight (O, I), bias (O) or nil.
    public static func forward(
        y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>,
        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        rows n: Int, inFeatures i: Int, outFeatures o: Int
    ) {
        if let bias {
            for r in 0..<n { (y + r * o).update(from: bias, count: o) }
        }
        Gemm.sgemm(transB: true, m: n, n: o, k: i, a: x, lda: i, b: weight, ldb: i,
                   beta: bias == nil ? 0 : 1, c: y, ldc: o)
    }

    /// Accumulates `dx += dy @ W`, `dWeight += dy^T @ x`, `dBias += sum_rows dy`
    /// (each skipped when nil). dy (N, O), x (N, I), weight (O, I).
    public static func backward(
        dx: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>?, dBias: UnsafeMutablePointer<Float>?,
        dy: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        rows n: Int, inFeatures i: Int, outFeatures o: Int
    ) {
        if let dx {
            Gemm.sgemm(m: n, n: i, k: o, a: dy, lda: o, b: weight, ldb: i, beta: 1, c: dx, ldc: i)
        }
        if let dWeight {
            Gemm.sgemm(transA: true, m: o, n: i, k: n, a: dy, lda: o, b: x, ldb: i, beta: 1, c: dWeight, ldc: i)
        }
        if let dBias {
            for r in 0..<n {
                let row = dy + r * o
                for j in 0..<o { dBias[j] += row[j] }
            }
        }
    }
}
