import Tensors

extension AttentionHead {
    /// e (rows, Nk) <- scale * q (rows, D; ldq) @ k^T.
    @inline(__always)
    func scores(_ e: UnsafeMutablePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>, rows: Int) {
        guard oneDNNProducts else {
            return Gemm.sgemm(transB: true, m: rows, n: keys, k: headDim, alpha: scale,
                              a: q, lda: ldq, b: k, ldb: ldk, c: e, ldc: keys)
        }
        var key = MatmulKey(m: rows, k: headDim, n: keys, aStrides: [Int64(ldq), 1], bStrides: [1, Int64(ldk)],
                            cStrides: [Int64(keys), 1])
        (key.float32Inputs, key.outputScale) = (true, scale)
        Matmuls.shared.run(key, threads: BLASRuntime.threads, c: e, a: q, b: k)
    }

    /// out (rows, D; ldo) <- e (rows, Nk) @ v (Nk, D; ldv).
    @inline(__always)
    func weightedSum(_ out: UnsafeMutablePointer<Float>, _ e: UnsafePointer<Float>, v: UnsafePointer<Float>,
                     rows: Int) {
        guard oneDNNProducts else {
            return Gemm.sgemm(m: rows, n: headDim, k: keys, a: e, lda: keys, b: v, ldb: ldv, c: out, ldc: ldo)
        }
        var key = MatmulKey(m: rows, k: keys, n: headDim, aStrides: [Int64(keys), 1], bStrides: [Int64(ldv), 1],
                            cStrides: [Int64(ldo), 1])
        key.float32Inputs = true
        Matmuls.shared.run(key, threads: BLASRuntime.threads, c: out, a: e, b: v)
    }
}
