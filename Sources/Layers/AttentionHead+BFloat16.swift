import Tensors

extension AttentionHead {
    /// `forward` with its two matrix products in bfloat16 with float32 accumulation (oneDNN,
    /// `encoder.precision = bf16`): q is scaled first and then rounded (SAM scales q before q @ k^T),
    /// k and v are rounded once per call, the softmax numerators after the float32 exponentials
    /// (their row sums stay float32). Bias, max and exp are `forward`'s. Single-threaded per call:
    /// callers run one (grid, head) item per core.
    func forwardBFloat16(
        o: UnsafeMutablePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        bias: Bias?
    ) {
        let d = headDim, block = blockRows
        let halves = UnsafeMutablePointer<UInt16>.allocate(capacity: bfloat16Operands)
        let floats = UnsafeMutablePointer<Float>.allocate(capacity: block * (keys + 1))
        defer { halves.deallocate(); floats.deallocate() }
        let kb = halves, vb = kb + keys * d, qb = vb + keys * d, eb = qb + block * d
        let scores = floats, sums = floats + block * keys
        Self.round(kb, k, rows: keys, columns: d, ld: ldk, scale: 1)
        Self.round(vb, v, rows: keys, columns: d, ld: ldv, scale: 1)
        for first in stride(from: 0, to: queries, by: block) {
            let rows = min(block, queries - first)
            Self.round(qb, q + first * ldq, rows: rows, columns: d, ld: ldq, scale: scale)
            scoresBFloat16(scores, q: qb, k: kb, rows: rows)
            for i in 0..<rows {
                let row = scores + i * keys
                let m = Self.biasedMaximum(row, count: keys, bias: bias, query: first + i)
                sums[i] = Self.expShiftedRow(row, count: keys, maximum: m)
                Self.round(eb + i * keys, row, rows: 1, columns: keys, ld: keys, scale: 1)
            }
            let out = o + first * ldo
            weightedSumBFloat16(out, eb, v: vb, rows: rows)
            for i in 0..<rows {
                let row = out + i * ldo, inv = 1 / sums[i]
                for c in 0..<d { row[c] *= inv }
            }
        }
    }

    /// bfloat16 elements of the operands: k, v, one query block and its numerators.
    var bfloat16Operands: Int { 2 * keys * headDim + blockRows * (headDim + keys) }

    /// scores (rows, Nk) <- qb (rows, D) @ kb^T, dense bfloat16 operands (q already scaled).
    func scoresBFloat16(_ scores: UnsafeMutablePointer<Float>, q: UnsafePointer<UInt16>, k: UnsafePointer<UInt16>,
                        rows: Int) {
        let key = MatmulKey(m: rows, k: headDim, n: keys, aStrides: [Int64(headDim), 1],
                            bStrides: [1, Int64(headDim)], cStrides: [Int64(keys), 1])
        Matmuls.shared.run(key, threads: 1, c: scores, a: q, b: k)
    }

    /// out (rows, D; ldo) <- e (rows, Nk) @ vb (Nk, D), dense bfloat16 operands.
    func weightedSumBFloat16(_ out: UnsafeMutablePointer<Float>, _ e: UnsafePointer<UInt16>, v: UnsafePointer<UInt16>,
                             rows: Int) {
        let key = MatmulKey(m: rows, k: keys, n: headDim, aStrides: [Int64(keys), 1], bStrides: [Int64(headDim), 1],
                            cStrides: [Int64(ldo), 1])
        Matmuls.shared.run(key, threads: 1, c: out, a: e, b: v)
    }

    /// y (rows, columns) dense bfloat16 <- scale * x (rows, columns; row stride ld).
    private static func round(_ y: UnsafeMutablePointer<UInt16>, _ x: UnsafePointer<Float>, rows: Int, columns: Int,
                              ld: Int, scale: Float) {
        for r in 0..<rows {
            let source = x + r &* ld, target = y + r &* columns
            for c in 0..<columns { target[c] = BFloat16.bits(source[c] * scale) }
        }
    }
}
