import Tensors

/// The per-head core shared by `MultiHeadAttention` (SAM ViT) and `Attention` (SAM two-way
/// transformer): for one (batch, head) pair,
/// `P = softmax_rows(scale * Q @ K^T + bias)`, `O = P @ V`, and its backward.
///
/// Q, K, V and O are strided views into the caller's projection buffers (head h of a token row is
/// the `headDim` columns starting at h * headDim, rows `ld` apart), so heads are never copied out.
/// The optional bias is SAM's decomposed relative position term (see `RelativePosition`):
/// `bias[i, (kh, kw)] = relH[i, kh] + relW[i, kw]`.
///
/// Shapes: Nq queries, Nk keys, D head dim. q (Nq, D; ld), k, v (Nk, D; ld), o (Nq, D; ld),
/// p and dp (Nq, Nk) dense scratch, relH (Nq, kh), relW (Nq, kw) with kh * kw = Nk.
struct AttentionHead {
    var queries: Int, keys: Int, headDim: Int
    var scale: Float
    /// Row strides (elements) of the q, k, v and output views; gradient views use the same strides.
    var ldq: Int, ldk: Int, ldv: Int, ldo: Int

    /// Decomposed relative position logits for one head of one grid (nil pointers: no bias).
    struct Bias {
        var relH: UnsafePointer<Float>, relW: UnsafePointer<Float>
        var keyHeight: Int, keyWidth: Int
    }

    /// Gradients of the bias terms, accumulated: dRelH (Nq, kh), dRelW (Nq, kw).
    struct BiasGradient {
        var dRelH: UnsafeMutablePointer<Float>, dRelW: UnsafeMutablePointer<Float>
    }

    /// o (Nq, D) <- softmax(scale * q @ k^T + bias) @ v, using p (Nq, Nk) as scratch.
    func forward(
        o: UnsafeMutablePointer<Float>, p: UnsafeMutablePointer<Float>,
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, bias: Bias?
    ) {
        probabilities(p: p, q: q, k: k, bias: bias)
        Gemm.sgemm(m: queries, n: headDim, k: keys, a: p, lda: keys, b: v, ldb: ldv, c: o, ldc: ldo)
    }

    /// p (Nq, Nk) <- softmax_rows(scale * q @ k^T + bias).
    func probabilities(p: UnsafeMutablePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>, bias: Bias?) {
        Gemm.sgemm(transB: true, m: queries, n: keys, k: headDim, alpha: scale,
                   a: q, lda: ldq, b: k, ldb: ldk, c: p, ldc: keys)
        for i in 0..<queries {
            let row = p + i &* keys
            if let bias { Self.addDecomposedBias(row, bias, query: i) }
            Self.softmaxRow(row, count: keys)
        }
    }

    /// Accumulates dq += scale * dS @ k, dk += scale * dS^T @ q, dv += P^T @ dO and the bias
    /// gradients, where dS = P * (dP - rowsum(dP * P)) and dP = dO @ v^T.
    /// Recomputes P into `p`; `dp` is scratch. All buffers (Nq, Nk) dense, views as in `forward`.
    func backward(
        dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
        dBias: BiasGradient?, dO: UnsafePointer<Float>,
        p: UnsafeMutablePointer<Float>, dp: UnsafeMutablePointer<Float>,
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, bias: Bias?
    ) {
        probabilities(p: p, q: q, k: k, bias: bias)
        Gemm.sgemm(transB: true, m: queries, n: keys, k: headDim, a: dO, lda: ldo, b: v, ldb: ldv, c: dp, ldc: keys)
        Gemm.sgemm(transA: true, m: keys, n: headDim, k: queries, a: p, lda: keys, b: dO, ldb: ldo,
                   beta: 1, c: dv, ldc: ldv)
        for i in 0..<queries {
            let off = i &* keys
            Self.softmaxRowBackward(dp + off, probabilities: p + off, count: keys)
            if let dBias, let bias { Self.accumulateBiasGradient(dBias, dp + off, bias, query: i) }
        }
        Gemm.sgemm(m: queries, n: headDim, k: keys, alpha: scale, a: dp, lda: keys, b: k, ldb: ldk,
                   beta: 1, c: dq, ldc: ldq)
        Gemm.sgemm(transA: true, m: keys, n: headDim, k: queries, alpha: scale, a: dp, lda: keys, b: q, ldb: ldq,
                   beta: 1, c: dk, ldc: ldk)
    }

    // MARK: Row kernels (plain loops over pointers with wrapping index math, so they vectorise)

    /// row[(a, b)] += relH[i, a] + relW[i, b] over the kh x kw key grid.
    @inline(__always)
    static func addDecomposedBias(_ row: UnsafeMutablePointer<Float>, _ bias: Bias, query i: Int) {
        let kh = bias.keyHeight, kw = bias.keyWidth
        let rh = bias.relH + i &* kh, rw = bias.relW + i &* kw
        for a in 0..<kh {
            let seg = row + a &* kw, h = rh[a]
            for b in 0..<kw { seg[b] += h + rw[b] }
        }
    }

    /// dRelH[i, a] += sum_b dS[(a, b)], dRelW[i, b] += sum_a dS[(a, b)].
    @inline(__always)
    static func accumulateBiasGradient(_ g: BiasGradient, _ ds: UnsafePointer<Float>, _ bias: Bias, query i: Int) {
        let kh = bias.keyHeight, kw = bias.keyWidth
        let gh = g.dRelH + i &* kh, gw = g.dRelW + i &* kw
        for a in 0..<kh {
            let seg = ds + a &* kw
            gh[a] += sum(seg, count: kw)
            for b in 0..<kw { gw[b] += seg[b] }
        }
    }

    /// In-place numerically stable softmax of one row.
    static func softmaxRow(_ row: UnsafeMutablePointer<Float>, count n: Int) {
        var m = -Float.infinity
        for j in 0..<n { m = row[j] > m ? row[j] : m }
        for j in 0..<n { row[j] = fastExp(row[j] - m) }
        let inv = 1 / sum(row, count: n)
        for j in 0..<n { row[j] *= inv }
    }

    /// In place: dp[j] <- p[j] * (dp[j] - sum_k p[k] dp[k]) (softmax backward of one row).
    static func softmaxRowBackward(_ dp: UnsafeMutablePointer<Float>, probabilities p: UnsafePointer<Float>, count n: Int) {
        var dot0: Float = 0, dot1: Float = 0, dot2: Float = 0, dot3: Float = 0
        var j = 0
        while j &+ 4 <= n {
            dot0 += p[j] * dp[j]; dot1 += p[j &+ 1] * dp[j &+ 1]
            dot2 += p[j &+ 2] * dp[j &+ 2]; dot3 += p[j &+ 3] * dp[j &+ 3]
            j &+= 4
        }
        while j < n { dot0 += p[j] * dp[j]; j &+= 1 }
        let dot = (dot0 + dot1) + (dot2 + dot3)
        for j in 0..<n { dp[j] = p[j] * (dp[j] - dot) }
    }

    /// Sum with eight independent partial sums (vectorisable; order differs from a serial sum).
    @inline(__always)
    static func sum(_ x: UnsafePointer<Float>, count n: Int) -> Float {
        var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0
        var s4: Float = 0, s5: Float = 0, s6: Float = 0, s7: Float = 0
        var j = 0
        while j &+ 8 <= n {
            s0 += x[j]; s1 += x[j &+ 1]; s2 += x[j &+ 2]; s3 += x[j &+ 3]
            s4 += x[j &+ 4]; s5 += x[j &+ 5]; s6 += x[j &+ 6]; s7 += x[j &+ 7]
            j &+= 8
        }
        while j < n { s0 += x[j]; j &+= 1 }
        return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
    }

    /// exp(x) to about 2 ulp for x in [-87, 88] (clamped outside): x = n ln2 + f with |f| <= ln2/2
    /// (Cody-Waite split of ln2), e^f by its degree-6 Taylor polynomial (relative error < 2e-7),
    /// 2^n assembled in the exponent bits. Rounding uses the 1.5 * 2^23 trick, so there is no
    /// float-to-int conversion and the function vectorises inside plain loops.
    @inline(__always)
    static func fastExp(_ x: Float) -> Float {
        let xc = x < -87 ? -87 : (x > 88 ? 88 : x)
        let shifter: Float = 12_582_912   // 1.5 * 2^23
        let r = xc * 1.442_695_04 + shifter
        let n = r - shifter
        let f = (xc - n * 0.693_359_375) - n * -2.121_944_4e-4
        var e: Float = 1.0 / 720
        e = e * f + 1.0 / 120
        e = e * f + 1.0 / 24
        e = e * f + 1.0 / 6
        e = e * f + 0.5
        e = e * f + 1
        e = e * f + 1
        let pow2 = Float(bitPattern: (r.bitPattern &- shifter.bitPattern &+ 127) &<< 23)
        return e * pow2
    }
}
