import Tensors

/// The mask decoder's attention: SAM's two-way transformer (token self-attention and the
/// token <-> image cross-attentions), multi-head with separate q/k/v projections, no positional
/// bias, and an internal width Di = D / downsampleRate (2 for the cross-attentions):
/// `q' = q @ Wq^T + bq`, `k' = k @ Wk^T + bk`, `v' = v @ Wv^T + bv` (each (.., Di)), split into nh
/// heads of Dh = Di / nh channels, `P = softmax(q' @ k'^T / sqrt(Dh))` per (batch, head),
/// `ctx = P @ v'` with heads merged, `y = ctx @ Wout^T + bout`.
///
/// ref: segment_anything/modeling/transformer.py @ dca509f, `Attention` (lines 185-240), forward
/// lines 218-240. The per-head work is `AttentionHead`, shared with the image encoder's
/// `EncoderAttention`.
///
/// Shapes: B batch, Nq queries, Nk keys, D embedding dim, Di internal dim, nh heads, Dh = Di / nh.
/// q (B, Nq, D), k (B, Nk, D), v (B, Nk, D), y (B, Nq, D); Wq, Wk, Wv (Di, D), bq, bk, bv (Di),
/// Wout (D, Di), bout (D). Saved: q' (B*Nq, Di), k' (B*Nk, Di), v' (B*Nk, Di), ctx (B*Nq, Di),
/// head h of a row in columns h * Dh ..< (h + 1) * Dh.
public enum DecoderAttention {
    public struct Shape: Equatable, Sendable {
        public var batch, queries, keys, embeddingDim, internalDim, heads: Int
        /// Elements of the per-head score block (memory of the attention scratch vs. GEMM size).
        public var scoreBudget: Int

        public init(batch: Int, queries: Int, keys: Int, embeddingDim: Int, heads: Int, downsampleRate: Int = 1,
                    scoreBudget: Int = AttentionHead.defaultScoreBudget) {
            let internalDim = embeddingDim / downsampleRate
            precondition(heads > 0 && internalDim % heads == 0,
                         "heads \(heads) must divide the internal dim \(internalDim)")
            (self.batch, self.queries, self.keys) = (batch, queries, keys)
            (self.embeddingDim, self.internalDim) = (embeddingDim, internalDim)
            (self.heads, self.scoreBudget) = (heads, scoreBudget)
        }

        public var headDim: Int { internalDim / heads }
    }

    /// Read-only parameters (PyTorch names: q_proj, k_proj, v_proj, out_proj .weight / .bias).
    public struct Parameters {
        public var qWeight: UnsafePointer<Float>, qBias: UnsafePointer<Float>?       // (Di, D), (Di)
        public var kWeight: UnsafePointer<Float>, kBias: UnsafePointer<Float>?       // (Di, D), (Di)
        public var vWeight: UnsafePointer<Float>, vBias: UnsafePointer<Float>?       // (Di, D), (Di)
        public var outWeight: UnsafePointer<Float>, outBias: UnsafePointer<Float>?   // (D, Di), (D)

        public init(qWeight: UnsafePointer<Float>, qBias: UnsafePointer<Float>?,
                    kWeight: UnsafePointer<Float>, kBias: UnsafePointer<Float>?,
                    vWeight: UnsafePointer<Float>, vBias: UnsafePointer<Float>?,
                    outWeight: UnsafePointer<Float>, outBias: UnsafePointer<Float>?) {
            (self.qWeight, self.qBias, self.kWeight, self.kBias) = (qWeight, qBias, kWeight, kBias)
            (self.vWeight, self.vBias, self.outWeight, self.outBias) = (vWeight, vBias, outWeight, outBias)
        }
    }

    /// Parameter gradients, accumulated (+=); nil entries are not computed.
    public struct Gradients {
        public var qWeight, qBias, kWeight, kBias, vWeight, vBias, outWeight, outBias: UnsafeMutablePointer<Float>?

        public init(qWeight: UnsafeMutablePointer<Float>? = nil, qBias: UnsafeMutablePointer<Float>? = nil,
                    kWeight: UnsafeMutablePointer<Float>? = nil, kBias: UnsafeMutablePointer<Float>? = nil,
                    vWeight: UnsafeMutablePointer<Float>? = nil, vBias: UnsafeMutablePointer<Float>? = nil,
                    outWeight: UnsafeMutablePointer<Float>? = nil, outBias: UnsafeMutablePointer<Float>? = nil) {
            (self.qWeight, self.qBias, self.kWeight, self.kBias) = (qWeight, qBias, kWeight, kBias)
            (self.vWeight, self.vBias, self.outWeight, self.outBias) = (vWeight, vBias, outWeight, outBias)
        }
    }

    /// Activations written by forward: q' (B*Nq, Di), k' (B*Nk, Di), v' (B*Nk, Di), context (B*Nq, Di).
    public struct Saved {
        public var q, k, v, context: UnsafeMutablePointer<Float>

        public init(q: UnsafeMutablePointer<Float>, k: UnsafeMutablePointer<Float>,
                    v: UnsafeMutablePointer<Float>, context: UnsafeMutablePointer<Float>) {
            (self.q, self.k, self.v, self.context) = (q, k, v, context)
        }
    }

    /// y (B, Nq, D) <- q (B, Nq, D), k (B, Nk, D), v (B, Nk, D); fills `saved`.
    public static func forward(
        y: UnsafeMutablePointer<Float>,
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        parameters p: Parameters, shape s: Shape, saved: Saved
    ) {
        let (d, di) = (s.embeddingDim, s.internalDim)
        let qRows = s.batch * s.queries, kRows = s.batch * s.keys
        Linear.forward(y: saved.q, x: q, weight: p.qWeight, bias: p.qBias, rows: qRows, inFeatures: d, outFeatures: di)
        Linear.forward(y: saved.k, x: k, weight: p.kWeight, bias: p.kBias, rows: kRows, inFeatures: d, outFeatures: di)
        Linear.forward(y: saved.v, x: v, weight: p.vWeight, bias: p.vBias, rows: kRows, inFeatures: d, outFeatures: di)
        recomputeContext(saved: saved, shape: s)
        Linear.forward(y: y, x: saved.context, weight: p.outWeight, bias: p.outBias, rows: qRows, inFeatures: di,
                       outFeatures: d)
    }

    /// saved.context <- P @ v' from the saved q', k', v': forward's own attention step, so a caller
    /// that keeps the context of one call only gets the same bits back. Cheap when there are few keys.
    public static func recomputeContext(saved: Saved, shape s: Shape) {
        let head = core(s)
        forEachHead(s, scratch: head.forwardScratchCount) { qOff, kOff, scratch in
            head.forward(o: saved.context + qOff, scratch: scratch, q: saved.q + qOff, k: saved.k + kOff,
                         v: saved.v + kOff, bias: nil)
        }
    }

    /// Accumulates dq, dk, dv (inputs, each skipped when nil) and the parameter gradients from
    /// dy (B, Nq, D), the inputs and the activations forward saved. dq, dk and dv may be the same
    /// buffer (self-attention with q = k): they are accumulated one after another.
    /// Scratch: dq', dctx (B*Nq, Di), dk', dv' (B*Nk, Di), two score blocks.
    public static func backward(
        dq: UnsafeMutablePointer<Float>?, dk: UnsafeMutablePointer<Float>?, dv: UnsafeMutablePointer<Float>?,
        gradients g: Gradients, dy: UnsafePointer<Float>,
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, saved: Saved,
        parameters p: Parameters, shape s: Shape
    ) {
        let (d, di) = (s.embeddingDim, s.internalDim)
        let qRows = s.batch * s.queries, kRows = s.batch * s.keys
        let qCount = qRows * di, kCount = kRows * di
        let head = core(s)
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: 2 * qCount + 2 * kCount)
        defer { buffer.deallocate() }
        buffer.initialize(repeating: 0, count: 2 * qCount + 2 * kCount)
        let dContext = buffer, dqp = buffer + qCount, dkp = dqp + qCount, dvp = dkp + kCount
        Linear.backward(dx: dContext, dWeight: g.outWeight, dBias: g.outBias, dy: dy, x: saved.context,
                        weight: p.outWeight, rows: qRows, inFeatures: di, outFeatures: d)
        forEachHead(s, scratch: head.backwardScratchCount) { qOff, kOff, scratch in
            head.backward(dq: dqp + qOff, dk: dkp + kOff, dv: dvp + kOff, dBias: nil, dO: dContext + qOff,
                          scratch: scratch, q: saved.q + qOff, k: saved.k + kOff, v: saved.v + kOff, bias: nil)
        }
        Linear.backward(dx: dq, dWeight: g.qWeight, dBias: g.qBias, dy: dqp, x: q, weight: p.qWeight,
                        rows: qRows, inFeatures: d, outFeatures: di)
        Linear.backward(dx: dk, dWeight: g.kWeight, dBias: g.kBias, dy: dkp, x: k, weight: p.kWeight,
                        rows: kRows, inFeatures: d, outFeatures: di)
        Linear.backward(dx: dv, dWeight: g.vWeight, dBias: g.vBias, dy: dvp, x: v, weight: p.vWeight,
                        rows: kRows, inFeatures: d, outFeatures: di)
    }

    private static func core(_ s: Shape) -> AttentionHead {
        AttentionHead(queries: s.queries, keys: s.keys, headDim: s.headDim,
                      scale: 1 / Float(s.headDim).squareRoot(), scoreBudget: s.scoreBudget,
                      ldq: s.internalDim, ldk: s.internalDim, ldv: s.internalDim, ldo: s.internalDim)
    }

    /// Visits every (batch, head) with the element offsets of its first query row and first key
    /// row inside the (.., Di) buffers, and a scratch of `count` floats of the visiting thread. The
    /// items write disjoint rows and columns, so they are spread over the cores, each computed whole by
    /// one thread: few-keys heads (no BLAS) as element work, GEMM heads with single-threaded BLAS
    /// (their GEMMs have a handful of query rows, which BLAS's own threads split badly). Results do
    /// not depend on the thread count.
    private static func forEachHead(
        _ s: Shape, scratch count: Int,
        _ body: (_ queryOffset: Int, _ keyOffset: Int, UnsafeMutablePointer<Float>) -> Void
    ) {
        func visit(_ items: Range<Int>) {
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
            defer { scratch.deallocate() }
            for item in items {
                let (b, h) = (item / s.heads, item % s.heads)
                body((b * s.queries) * s.internalDim + h * s.headDim, (b * s.keys) * s.internalDim + h * s.headDim,
                     scratch)
            }
        }
        if core(s).takesFewKeysPath {
            RowParallel.run(rows: s.batch * s.heads, width: s.queries * s.headDim, visit)
        } else {
            RowParallel.itemsWithSingleThreadedBLAS(s.batch * s.heads, visit)
        }
    }
}
