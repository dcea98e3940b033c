import Dispatch
import Tensors

/// The image encoder's attention: multi-head self-attention of SAM's ViT blocks over windows
/// (windowed blocks) or the whole token grid (global blocks), with optional decomposed relative
/// positions and one fused qkv projection:
/// `qkv = x @ Wqkv^T + bqkv` split into q, k, v and nh heads of D = C / nh channels,
/// `P = softmax((q * D^-0.5) @ k^T + relH + relW)` per (grid, head), `ctx = P @ v` with heads merged,
/// `y = ctx @ Wproj^T + bproj`.
///
/// ref: segment_anything/modeling/image_encoder.py @ dca509f, `Attention` (lines 184-239), forward
/// lines 223-239; the relative position term is `RelativePosition` (add_decomposed_rel_pos).
///
/// Memory: the qkv GEMM and the projection run over all B * H * W tokens at once; the attention
/// itself runs one (grid, head) pair at a time per thread (forward spreads the pairs over the BLAS
/// threads), block of queries by block of queries, through one score buffer of 4 MB by default
/// (`AttentionHead`), so a global block at 64 x 64 tokens never holds its 4096 x 4096 logits.
/// Forward writes q/k/v and the merged context into the caller's `Saved` buffers: inference reuses
/// them across blocks, training keeps them for `backward`, which recomputes the probabilities head
/// by head.
///
/// Shapes: B grids (windows, or images for global blocks), H x W tokens per grid, N = H * W,
/// rows = B * N, C channels, nh heads, D = C / nh. x, y (B, H, W, C); qkv (rows, 3C) with column
/// s * C + h * D + c for s in (q, k, v) (SAM's reshape(B, N, 3, nh, D)); context (rows, C) with
/// column h * D + c; Wqkv (3C, C), bqkv (3C), Wproj (C, C), bproj (C), relPosH (2H-1, D), relPosW (2W-1, D).
public enum EncoderAttention {
    public struct Shape: Equatable, Sendable {
        public var batch, height, width, channels, heads: Int
        public var useRelativePosition: Bool
        /// Elements of the per-head score block (memory of the attention scratch vs. GEMM size).
        public var scoreBudget: Int

        public init(batch: Int, height: Int, width: Int, channels: Int, heads: Int, useRelativePosition: Bool,
                    scoreBudget: Int = AttentionHead.defaultScoreBudget) {
            precondition(heads > 0 && channels % heads == 0, "heads \(heads) must divide channels \(channels)")
            (self.batch, self.height, self.width, self.channels, self.heads) = (batch, height, width, channels, heads)
            (self.useRelativePosition, self.scoreBudget) = (useRelativePosition, scoreBudget)
        }

        public var headDim: Int { channels / heads }
        public var tokens: Int { height * width }
        public var rows: Int { batch * tokens }
    }

    /// Read-only parameters (PyTorch names: qkv.weight, qkv.bias, proj.weight, proj.bias, rel_pos_h, rel_pos_w).
    public struct Parameters {
        public var qkvWeight: UnsafePointer<Float>          // (3C, C)
        public var qkvBias: UnsafePointer<Float>?           // (3C)
        public var projWeight: UnsafePointer<Float>         // (C, C)
        public var projBias: UnsafePointer<Float>?          // (C)
        public var relPosH: UnsafePointer<Float>?           // (2H-1, D), required when useRelativePosition
        public var relPosW: UnsafePointer<Float>?           // (2W-1, D), required when useRelativePosition
        /// bfloat16 copies of Wqkv and Wproj: forward then runs those projections in bfloat16
        /// (`BFloat16Linear`); backward always uses the float32 weights.
        public var qkvWeightBF16, projWeightBF16: UnsafePointer<UInt16>?

        public init(qkvWeight: UnsafePointer<Float>, qkvBias: UnsafePointer<Float>?,
                    projWeight: UnsafePointer<Float>, projBias: UnsafePointer<Float>?,
                    relPosH: UnsafePointer<Float>? = nil, relPosW: UnsafePointer<Float>? = nil,
                    qkvWeightBF16: UnsafePointer<UInt16>? = nil, projWeightBF16: UnsafePointer<UInt16>? = nil) {
            (self.qkvWeight, self.qkvBias, self.projWeight, self.projBias) = (qkvWeight, qkvBias, projWeight, projBias)
            (self.relPosH, self.relPosW) = (relPosH, relPosW)
            (self.qkvWeightBF16, self.projWeightBF16) = (qkvWeightBF16, projWeightBF16)
        }
    }

    /// Parameter gradients, accumulated (+=); nil entries are not computed.
    public struct Gradients {
        public var qkvWeight, qkvBias, projWeight, projBias, relPosH, relPosW: UnsafeMutablePointer<Float>?

        public init(qkvWeight: UnsafeMutablePointer<Float>? = nil, qkvBias: UnsafeMutablePointer<Float>? = nil,
                    projWeight: UnsafeMutablePointer<Float>? = nil, projBias: UnsafeMutablePointer<Float>? = nil,
                    relPosH: UnsafeMutablePointer<Float>? = nil, relPosW: UnsafeMutablePointer<Float>? = nil) {
            (self.qkvWeight, self.qkvBias, self.projWeight, self.projBias) = (qkvWeight, qkvBias, projWeight, projBias)
            (self.relPosH, self.relPosW) = (relPosH, relPosW)
        }
    }

    /// Activations written by forward: qkv (rows, 3C), context (rows, C).
    public struct Saved {
        public var qkv: UnsafeMutablePointer<Float>
        public var context: UnsafeMutablePointer<Float>

        public init(qkv: UnsafeMutablePointer<Float>, context: UnsafeMutablePointer<Float>) {
            (self.qkv, self.context) = (qkv, context)
        }
    }

    /// y (B, H, W, C) <- x (B, H, W, C); fills `saved` (qkv (rows, 3C), context (rows, C)).
    ///
    /// The (grid, head) pairs are independent: with `BLASRuntime.threads` = T > 1 they are split into
    /// T contiguous chunks run concurrently (`DispatchQueue.concurrentPerform`), each with its own
    /// scratch and single-threaded BLAS calls (small per-head GEMMs parallelise badly inside BLAS,
    /// and the softmax and relative-position work then runs on every core too). The process-wide
    /// BLAS thread count is set to 1 during that phase and restored afterwards, so no other BLAS
    /// work may run concurrently with this call.
    public static func forward(
        y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>,
        parameters p: Parameters, shape s: Shape, saved: Saved
    ) {
        let c = s.channels
        Linear.forward(y: saved.qkv, x: x, weight: p.qkvWeight, bfloat16: p.qkvWeightBF16, bias: p.qkvBias,
                       rows: s.rows, inFeatures: c, outFeatures: 3 * c)
        attend(parameters: p, shape: s, saved: saved)
        Linear.forward(y: y, x: saved.context, weight: p.projWeight, bfloat16: p.projWeightBF16, bias: p.projBias,
                       rows: s.rows, inFeatures: c, outFeatures: c)
    }

    /// saved.context <- the heads' softmax(q k^T + rel) v for every (grid, head) item, from saved.qkv.
    static func attend(parameters p: Parameters, shape s: Shape, saved: Saved) {
        let c = s.channels
        let head = core(s)
        let relCount = s.useRelativePosition ? s.tokens * (s.height + s.width) : 0
        RowParallel.itemsWithSingleThreadedBLAS(s.heads * s.batch) { items in
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: head.forwardScratchCount + relCount)
            defer { scratch.deallocate() }
            let relH = scratch + head.forwardScratchCount, relW = relH + s.tokens * s.height
            for item in items {
                let h = item / s.batch, b = item % s.batch
                let q = UnsafePointer(saved.qkv) + b * s.tokens * 3 * c + h * s.headDim
                var bias: AttentionHead.Bias?
                if s.useRelativePosition {
                    guard let tableH = p.relPosH, let tableW = p.relPosW else {
                        preconditionFailure("useRelativePosition needs relPosH and relPosW")
                    }
                    RelativePosition.forward(relH: relH, relW: relW, q: q, ldq: 3 * c, tableH: tableH, tableW: tableW,
                                             batch: 1, height: s.height, width: s.width, headDim: s.headDim)
                    bias = AttentionHead.Bias(relH: relH, relW: relW, keyHeight: s.height, keyWidth: s.width)
                }
                let o = saved.context + b * s.tokens * c + h * s.headDim
                if p.qkvWeightBF16 != nil {
                    head.forwardBFloat16(o: o, q: q, k: q + c, v: q + 2 * c, bias: bias)
                } else {
                    head.forward(o: o, scratch: scratch, q: q, k: q + c, v: q + 2 * c, bias: bias)
                }
            }
        }
    }

    /// Accumulates dx (B, H, W, C) and the parameter gradients from dy (B, H, W, C), the input x and
    /// the activations forward saved. Scratch: dqkv (rows, 3C), dcontext (rows, C), two score blocks.
    public static func backward(
        dx: UnsafeMutablePointer<Float>?, gradients g: Gradients,
        dy: UnsafePointer<Float>, x: UnsafePointer<Float>, saved: Saved,
        parameters p: Parameters, shape s: Shape
    ) {
        let c = s.channels
        let dContext = UnsafeMutablePointer<Float>.allocate(capacity: s.rows * c)
        defer { dContext.deallocate() }
        dContext.initialize(repeating: 0, count: s.rows * c)
        Linear.backward(dx: dContext, dWeight: g.projWeight, dBias: g.projBias, dy: dy, x: saved.context,
                        weight: p.projWeight, rows: s.rows, inFeatures: c, outFeatures: c)
        let tablesNeeded = s.useRelativePosition && (g.relPosH != nil || g.relPosW != nil)
        guard dx != nil || g.qkvWeight != nil || g.qkvBias != nil || tablesNeeded else { return }

        let head = core(s)
        let dqkv = UnsafeMutablePointer<Float>.allocate(capacity: s.rows * 3 * c)
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: head.backwardScratchCount)
        let rel = RelativeTerms(s)
        defer { dqkv.deallocate(); scratch.deallocate(); rel?.deallocate() }
        dqkv.initialize(repeating: 0, count: s.rows * 3 * c)
        for h in 0..<s.heads {
            let q = UnsafePointer(saved.qkv) + h * s.headDim, dq = dqkv + h * s.headDim
            rel?.compute(q: q, parameters: p, shape: s)
            rel?.clearGradients()
            for b in 0..<s.batch {
                let offset = b * s.tokens * 3 * c
                head.backward(dq: dq + offset, dk: dq + offset + c, dv: dq + offset + 2 * c,
                              dBias: rel?.biasGradient(grid: b, shape: s),
                              dO: dContext + b * s.tokens * c + h * s.headDim, scratch: scratch,
                              q: q + offset, k: q + offset + c, v: q + offset + 2 * c,
                              bias: rel?.bias(grid: b, shape: s))
            }
            rel?.backward(dq: dq, gradients: g, q: q, parameters: p, shape: s)
        }
        Linear.backward(dx: dx, dWeight: g.qkvWeight, dBias: g.qkvBias, dy: dqkv, x: x, weight: p.qkvWeight,
                        rows: s.rows, inFeatures: c, outFeatures: 3 * c)
    }

    static func core(_ s: Shape) -> AttentionHead {
        var head = AttentionHead(queries: s.tokens, keys: s.tokens, headDim: s.headDim,
                                 scale: 1 / Float(s.headDim).squareRoot(), scoreBudget: s.scoreBudget,
                                 ldq: 3 * s.channels, ldk: 3 * s.channels, ldv: 3 * s.channels, ldo: s.channels)
        head.oneDNNProducts = oneDNNProducts
        return head
    }

    /// Whether the per-head float32 products run through oneDNN: on AVX-512 CPUs its kernels beat
    /// OpenBLAS's on these shapes (ViT-B global head, AMD Zen 4: scores 15 %, weighted sum 7 %);
    /// with AVX2 only OpenBLAS's Haswell kernels are faster, so they stay.
    public static let oneDNNProducts = BFloat16Linear.support.hasAVX512

    /// Per-head relative position buffers of the backward pass: relH (rows, H), relW (rows, W) and
    /// their gradients dRelH, dRelW of the same shapes.
    private struct RelativeTerms {
        let relH, relW: UnsafeMutablePointer<Float>
        let dRelH, dRelW: UnsafeMutablePointer<Float>
        let countH, countW: Int

        init?(_ s: Shape) {
            guard s.useRelativePosition else { return nil }
            (countH, countW) = (s.rows * s.height, s.rows * s.width)
            let n = countH + countW
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: 2 * n)
            (relH, relW) = (buffer, buffer + countH)
            (dRelH, dRelW) = (buffer + n, buffer + n + countH)
        }

        func deallocate() { relH.deallocate() }

        func compute(q: UnsafePointer<Float>, parameters p: Parameters, shape s: Shape) {
            guard let tableH = p.relPosH, let tableW = p.relPosW else {
                preconditionFailure("useRelativePosition needs relPosH and relPosW")
            }
            RelativePosition.forward(relH: relH, relW: relW, q: q, ldq: 3 * s.channels, tableH: tableH, tableW: tableW,
                                     batch: s.batch, height: s.height, width: s.width, headDim: s.headDim)
        }

        func clearGradients() {
            dRelH.update(repeating: 0, count: countH)
            dRelW.update(repeating: 0, count: countW)
        }

        func backward(dq: UnsafeMutablePointer<Float>, gradients g: Gradients, q: UnsafePointer<Float>,
                      parameters p: Parameters, shape s: Shape) {
            RelativePosition.backward(dq: dq, dTableH: g.relPosH, dTableW: g.relPosW, dRelH: dRelH, dRelW: dRelW,
                                      q: q, ldq: 3 * s.channels, tableH: p.relPosH!, tableW: p.relPosW!,
                                      batch: s.batch, height: s.height, width: s.width, headDim: s.headDim)
        }

        func bias(grid b: Int, shape s: Shape) -> AttentionHead.Bias {
            AttentionHead.Bias(relH: relH + b * s.tokens * s.height, relW: relW + b * s.tokens * s.width,
                               keyHeight: s.height, keyWidth: s.width)
        }

        func biasGradient(grid b: Int, shape s: Shape) -> AttentionHead.BiasGradient {
            AttentionHead.BiasGradient(dRelH: dRelH + b * s.tokens * s.height, dRelW: dRelW + b * s.tokens * s.width)
        }
    }
}
