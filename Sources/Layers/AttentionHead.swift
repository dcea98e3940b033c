import Tensors

/// The per-head core shared by the image encoder's `EncoderAttention` (SAM ViT, windowed or global,
/// with relative positions) and the mask decoder's `DecoderAttention` (SAM two-way transformer):
/// for one (batch, head) pair,
/// `P = softmax_rows(scale * Q @ K^T + bias)`, `O = P @ V`, and its backward.
///
/// Q, K, V and O are strided views into the caller's projection buffers (head h of a token row is
/// the `headDim` columns starting at h * headDim, rows `ld` apart), so heads are never copied out.
/// The optional bias is SAM's decomposed relative position term (see `RelativePosition`):
/// `bias[i, (kh, kw)] = relH[i, kh] + relW[i, kw]`.
///
/// Shapes: Nq queries, Nk keys, D head dim, R query rows per block. q (Nq, D; ld), k, v (Nk, D; ld),
/// o (Nq, D; ld), scratch: score block (R, Nk) (+ its R row sums, or + its gradient (R, Nk)),
/// relH (Nq, kh), relW (Nq, kw) with kh * kw = Nk.
@usableFromInline
struct AttentionHead {
    /// Default bound (elements, 4 MB) on a score block; a block holds at least one query row.
    /// Measured on the ViT-B global block (4096 keys): 256-row blocks are as fast as unblocked
    /// scores (64 MB) and faster than 16-64-row blocks, whose GEMMs repack K too often.
    @usableFromInline static let defaultScoreBudget = 1 << 20

    var queries: Int, keys: Int, headDim: Int
    var scale: Float
    /// Elements allowed for one block of scores.
    var scoreBudget: Int
    /// Row strides (elements) of the q, k, v and output views; gradient views use the same strides.
    var ldq: Int, ldk: Int, ldv: Int, ldo: Int
    /// The two float32 forward products (scores and weighted sum) through oneDNN instead of OpenBLAS
    /// (`AttentionHead+OneDNN.swift`).
    var oneDNNProducts = false

    /// Decomposed relative position logits of one head for the queries of one grid.
    struct Bias {
        var relH: UnsafePointer<Float>, relW: UnsafePointer<Float>
        var keyHeight: Int, keyWidth: Int
    }

    /// Gradients of the bias terms, accumulated: dRelH (Nq, kh), dRelW (Nq, kw).
    struct BiasGradient {
        var dRelH: UnsafeMutablePointer<Float>, dRelW: UnsafeMutablePointer<Float>
    }

    /// Queries are processed in blocks of this many rows so the block's scores (4 MB by default)
    /// stay in cache between the scores GEMM, the softmax and the weighted-sum GEMM.
    var blockRows: Int { min(queries, max(1, scoreBudget / max(keys, 1))) }

    /// Scratch elements `forward` needs: one score block and its row sums.
    var forwardScratchCount: Int { blockRows * (keys + 1) }

    /// Scratch elements `backward` needs: probabilities and their gradient for one block.
    var backwardScratchCount: Int { 2 * blockRows * keys }

    /// o (Nq, D) <- softmax(scale * q @ k^T + bias) @ v, block of queries by block of queries.
    /// The weighted sum uses the unnormalised exponentials and divides the (Nq, D) output rows by
    /// the row sums afterwards, which saves a pass over the scores.
    func forward(
        o: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, bias: Bias?
    ) {
        if bias == nil && takesFewKeysPath { return forwardFewKeys(o: o, q: q, k: k, v: v) }
        let e = scratch, sums = scratch + blockRows &* keys
        for first in stride(from: 0, to: queries, by: blockRows) {
            let rows = min(blockRows, queries - first)
            exponentials(e, rowSums: sums, q: q + first &* ldq, k: k, bias: bias, firstQuery: first, rows: rows)
            let out = o + first &* ldo
            weightedSum(out, e, v: v, rows: rows)
            for i in 0..<rows {
                let row = out + i &* ldo, inv = 1 / sums[i]
                for c in 0..<headDim { row[c] *= inv }
            }
        }
    }

    /// e (rows, Nk) <- exp(scale * q @ k^T + bias - rowmax), rowSums (rows) <- sum_j e, for the
    /// queries first ..< first + rows (q points at query `first`).
    func exponentials(
        _ e: UnsafeMutablePointer<Float>, rowSums: UnsafeMutablePointer<Float>,
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, bias: Bias?, firstQuery first: Int, rows: Int
    ) {
        scores(e, q: q, k: k, rows: rows)
        for i in 0..<rows {
            let row = e + i &* keys
            let m = Self.biasedMaximum(row, count: keys, bias: bias, query: first &+ i)
            rowSums[i] = Self.expShiftedRow(row, count: keys, maximum: m)
        }
    }

    /// Accumulates dq += scale * dS @ k, dk += scale * dS^T @ q, dv += P^T @ dO and the bias
    /// gradients, where dS = P * (dP - rowsum(dP * P)) and dP = dO @ v^T, block by block of
    /// queries, recomputing P. Views as in `forward`; `scratch` holds `backwardScratchCount`.
    func backward(
        dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
        dBias: BiasGradient?, dO: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>,
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, bias: Bias?
    ) {
        if bias == nil && takesFewKeysPath {
            return backwardFewKeys(dq: dq, dk: dk, dv: dv, dO: dO, q: q, k: k, v: v)
        }
        let p = scratch, dp = scratch + blockRows &* keys
        for first in stride(from: 0, to: queries, by: blockRows) {
            let rows = min(blockRows, queries - first)
            let qb = q + first &* ldq, dqb = dq + first &* ldq, dOb = dO + first &* ldo
            // The row sums are parked at the start of dp until the dP GEMM overwrites it.
            exponentials(p, rowSums: dp, q: qb, k: k, bias: bias, firstQuery: first, rows: rows)
            for i in 0..<rows {
                let row = p + i &* keys, inv = 1 / dp[i]
                for j in 0..<keys { row[j] *= inv }
            }
            Gemm.sgemm(transB: true, m: rows, n: keys, k: headDim, a: dOb, lda: ldo, b: v, ldb: ldv, c: dp, ldc: keys)
            Gemm.sgemm(transA: true, m: keys, n: headDim, k: rows, a: p, lda: keys, b: dOb, ldb: ldo,
                       beta: 1, c: dv, ldc: ldv)
            for i in 0..<rows {
                let off = i &* keys
                Self.softmaxRowBackward(dp + off, probabilities: p + off, count: keys)
                if let dBias, let bias { Self.accumulateBiasGradient(dBias, dp + off, bias, query: first &+ i) }
            }
            Gemm.sgemm(m: rows, n: headDim, k: keys, alpha: scale, a: dp, lda: keys, b: k, ldb: ldk,
                       beta: 1, c: dqb, ldc: ldq)
            Gemm.sgemm(transA: true, m: keys, n: headDim, k: rows, alpha: scale, a: dp, lda: keys, b: qb, ldb: ldq,
                       beta: 1, c: dk, ldc: ldk)
        }
    }
}
