import Tensors

extension Linear {
    /// y (N, O) <- GELU(x (N, I) @ weight^T + bias), exact (erf) GELU.
    ///
    /// Where oneDNN has AVX-512 kernels (`fusesGELU`) this is one float32 oneDNN matmul whose
    /// epilogue adds the bias and applies `gelu_erf` on the accumulators while they are in
    /// registers: no separate pass over the (N, O) result. Elsewhere it is `forward` (OpenBLAS,
    /// whose AVX2 kernels beat oneDNN's there) followed by `GELU.forward`.
    public static func forwardGELU(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>,
                                   weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                                   rows n: Int, inFeatures i: Int, outFeatures o: Int) {
        guard fusesGELU else {
            forward(y: y, x: x, weight: weight, bias: bias, rows: n, inFeatures: i, outFeatures: o)
            return GELU.forward(y: y, x: y, count: n * o)
        }
        var key = MatmulKey(rows: n, inFeatures: i, outFeatures: o, bias: bias != nil)
        (key.float32Inputs, key.gelu) = (true, true)
        Matmuls.shared.run(key, threads: BLASRuntime.threads, c: y, a: x, b: weight, bias: bias)
    }

    /// Whether `forwardGELU` runs as one oneDNN matmul with a GELU epilogue (AVX-512 CPUs).
    public static let fusesGELU = BFloat16Linear.support.hasAVX512
}
