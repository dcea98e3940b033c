import Tensors

extension EncoderAttention {
    /// Only the matrix products `forward` computes, with its shapes, precision, blocking and threading:
    /// the qkv and output projections and, per (grid, head) item spread over the cores, the scores
    /// and weighted-sum products of each query block. No bias, softmax or relative positions: the
    /// time of this call is what the attention would cost if everything but its GEMMs were free
    /// (`bench encoder`'s roofline on the encoder's own shapes). Values written are meaningless.
    /// The projections run on `projectionRows` rows: `shape.rows`, or the real tokens of a
    /// `forwardWindowed` grid.
    public static func forwardProductsOnly(
        y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, parameters p: Parameters, shape s: Shape,
        saved: Saved, projectionRows: Int? = nil
    ) {
        let c = s.channels, rows = projectionRows ?? s.rows
        precondition(rows <= s.rows, "more projection rows than the attention's")
        Linear.forward(y: saved.qkv, x: x, weight: p.qkvWeight, bfloat16: p.qkvWeightBF16, bias: p.qkvBias,
                       rows: rows, inFeatures: c, outFeatures: 3 * c)
        let head = core(s)
        let reduced = p.qkvWeightBF16 != nil
        RowParallel.itemsWithSingleThreadedBLAS(s.heads * s.batch) { items in
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: head.forwardScratchCount)
            let halves = UnsafeMutablePointer<UInt16>.allocate(capacity: reduced ? head.bfloat16Operands : 1)
            defer { scratch.deallocate(); halves.deallocate() }
            halves.initialize(repeating: 0, count: reduced ? head.bfloat16Operands : 1)
            for item in items {
                let h = item / s.batch, b = item % s.batch
                let q = UnsafePointer(saved.qkv) + b * s.tokens * 3 * c + h * s.headDim
                let o = saved.context + b * s.tokens * c + h * s.headDim
                if reduced {
                    head.productsOnlyBFloat16(o: o, scores: scratch, halves: halves)
                } else {
                    head.productsOnly(o: o, scores: scratch, q: q, k: q + c, v: q + 2 * c)
                }
            }
        }
        Linear.forward(y: y, x: saved.context, weight: p.projWeight, bfloat16: p.projWeightBF16, bias: p.projBias,
                       rows: rows, inFeatures: c, outFeatures: c)
    }
}

extension AttentionHead {
    /// `forward`'s two float32 products per query block, nothing else.
    func productsOnly(o: UnsafeMutablePointer<Float>, scores: UnsafeMutablePointer<Float>,
                      q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>) {
        for first in stride(from: 0, to: queries, by: blockRows) {
            let rows = min(blockRows, queries - first)
            self.scores(scores, q: q + first &* ldq, k: k, rows: rows)
            weightedSum(o + first &* ldo, scores, v: v, rows: rows)
        }
    }

    /// `forwardBFloat16`'s two oneDNN products per query block, on zero bfloat16 operands.
    func productsOnlyBFloat16(o: UnsafeMutablePointer<Float>, scores: UnsafeMutablePointer<Float>,
                              halves: UnsafePointer<UInt16>) {
        let d = headDim
        let kb = halves, vb = kb + keys * d, qb = vb + keys * d, eb = qb + blockRows * d
        for first in stride(from: 0, to: queries, by: blockRows) {
            let rows = min(blockRows, queries - first)
            scoresBFloat16(scores, q: qb, k: kb, rows: rows)
            weightedSumBFloat16(o + first &* ldo, eb, v: vb, rows: rows)
        }
    }
}
