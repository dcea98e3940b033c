import Layers

/// Owns zero-initialised float buffers and frees them all when released.
final class DecoderBuffers {
    private var buffers: [UnsafeMutablePointer<Float>] = []
    private(set) var totalCount = 0

    func take(_ count: Int) -> UnsafeMutablePointer<Float> {
        let p = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
        p.initialize(repeating: 0, count: max(count, 1))
        buffers.append(p)
        totalCount += count
        return p
    }

    deinit { for p in buffers { p.deallocate() } }
}

/// Saved mean (R) and rstd (R) of a LayerNorm over R rows.
struct TwoWayNormStatistics {
    var mean, rstd: UnsafeMutablePointer<Float>

    init(rows: Int, pool: DecoderBuffers) { (mean, rstd) = (pool.take(rows), pool.take(rows)) }
}

/// What `DecoderAttention.forward` saves, for `units` independent calls laid out one after another:
/// q' and context (query rows, Di), k' and v' (key rows, Di). With `contextRows` the context holds
/// that many rows only, shared by the calls (the caller recomputes it before each backward).
struct TwoWayAttentionActivations {
    var q, k, v, context: UnsafeMutablePointer<Float>
    let sharesContext: Bool

    init(queryRows: Int, keyRows: Int, internalDim di: Int, contextRows: Int? = nil, pool: DecoderBuffers) {
        q = pool.take(queryRows * di)
        k = pool.take(keyRows * di)
        v = pool.take(keyRows * di)
        context = pool.take((contextRows ?? queryRows) * di)
        sharesContext = contextRows != nil
    }

    /// The `DecoderAttention.Saved` of the call whose first query row / key row are at these element offsets.
    func saved(queryOffset: Int = 0, keyOffset: Int = 0) -> DecoderAttention.Saved {
        DecoderAttention.Saved(q: q + queryOffset, k: k + keyOffset, v: v + keyOffset,
                               context: sharesContext ? context : context + queryOffset)
    }
}

/// Activations of one `TwoWayAttentionBlock` (legend in `TwoWayTransformer`).
struct TwoWayBlockActivations {
    var selfQueryPE: UnsafeMutablePointer<Float>      // (B, N, D) queries + tokens (unused in layer 0)
    var selfAttention: TwoWayAttentionActivations           // q', k', v', ctx (B*N, D)
    var x1, q1: UnsafeMutablePointer<Float>           // (B, N, D) before / after norm1
    var norm1: TwoWayNormStatistics                         // (B*N)
    var crossQueryPE: UnsafeMutablePointer<Float>     // (B, N, D) q1 + tokens
    var tokenToImage: TwoWayAttentionActivations            // q', ctx (B*N, Di); k', v' (U*P, Di)
    var x2, q2: UnsafeMutablePointer<Float>           // (B, N, D)
    var norm2: TwoWayNormStatistics
    var mlpHidden: UnsafeMutablePointer<Float>        // (B*N, M) after ReLU
    var x3, q3: UnsafeMutablePointer<Float>           // (B, N, D)
    var norm3: TwoWayNormStatistics
    var tokenKeyPE: UnsafeMutablePointer<Float>       // (B, N, D) q3 + tokens
    var imageToToken: TwoWayAttentionActivations            // q' (B*P, Di), ctx (P, Di); k', v' (B*N, Di)
    var x4, keys: UnsafeMutablePointer<Float>         // (B, P, D) before / after norm4
    var norm4: TwoWayNormStatistics                         // (B*P)

    init(units: Int, config c: TwoWayTransformerConfig, shape s: TwoWayTransformer.Shape, pool: DecoderBuffers) {
        let (d, di) = (c.embeddingDim, c.crossInternalDim)
        let tokenRows = s.batch * s.tokens, imageRows = s.batch * s.imageTokens
        let tokenCount = tokenRows * d
        func stats(_ rows: Int) -> TwoWayNormStatistics { TwoWayNormStatistics(rows: rows, pool: pool) }
        func attention(queryRows: Int, keyRows: Int, internalDim: Int,
                       contextRows: Int? = nil) -> TwoWayAttentionActivations {
            TwoWayAttentionActivations(queryRows: queryRows, keyRows: keyRows, internalDim: internalDim,
                                       contextRows: contextRows, pool: pool)
        }
        selfQueryPE = pool.take(tokenCount)
        selfAttention = attention(queryRows: tokenRows, keyRows: tokenRows, internalDim: d)
        (x1, q1, norm1) = (pool.take(tokenCount), pool.take(tokenCount), stats(tokenRows))
        crossQueryPE = pool.take(tokenCount)
        tokenToImage = attention(queryRows: tokenRows, keyRows: units * s.imageTokens, internalDim: di)
        (x2, q2, norm2) = (pool.take(tokenCount), pool.take(tokenCount), stats(tokenRows))
        mlpHidden = pool.take(tokenRows * c.mlpDim)
        (x3, q3, norm3) = (pool.take(tokenCount), pool.take(tokenCount), stats(tokenRows))
        tokenKeyPE = pool.take(tokenCount)
        imageToToken = attention(queryRows: imageRows, keyRows: tokenRows, internalDim: di, contextRows: s.imageTokens)
        (x4, keys, norm4) = (pool.take(imageRows * d), pool.take(imageRows * d), stats(imageRows))
    }
}

/// Activations of the final token-to-image attention and its norm.
struct TwoWayFinalActivations {
    var queryPE: UnsafeMutablePointer<Float>          // (B, N, D)
    var attention: TwoWayAttentionActivations               // q', ctx (B*N, Di); k', v' (B*P, Di)
    var x, queries: UnsafeMutablePointer<Float>       // (B, N, D) before / after norm_final_attn
    var norm: TwoWayNormStatistics

    init(config c: TwoWayTransformerConfig, shape s: TwoWayTransformer.Shape, pool: DecoderBuffers) {
        let tokenRows = s.batch * s.tokens, tokenCount = tokenRows * c.embeddingDim
        queryPE = pool.take(tokenCount)
        attention = TwoWayAttentionActivations(queryRows: tokenRows, keyRows: s.batch * s.imageTokens,
                                               internalDim: c.crossInternalDim, pool: pool)
        (x, queries) = (pool.take(tokenCount), pool.take(tokenCount))
        norm = TwoWayNormStatistics(rows: tokenRows, pool: pool)
    }
}

extension TwoWayTransformer {
    /// Every activation the forward pass saves for the backward pass, plus the outputs, for one
    /// configuration and shape. Create once and reuse across steps of the same shape.
    public final class Activations {
        public let config: TwoWayTransformerConfig
        public let shape: Shape
        let pool = DecoderBuffers()
        let blocks: [TwoWayBlockActivations]
        let final: TwoWayFinalActivations
        /// Scratch for keys + image PE of one unit (P, D), recomputed at each use.
        let keysWithPE: UnsafeMutablePointer<Float>

        public init(config: TwoWayTransformerConfig, shape: Shape) {
            (self.config, self.shape) = (config, shape)
            let pool = self.pool
            blocks = (0..<config.depth).map {
                TwoWayBlockActivations(units: shape.units(layer: $0), config: config, shape: shape, pool: pool)
            }
            final = TwoWayFinalActivations(config: config, shape: shape, pool: pool)
            keysWithPE = pool.take(shape.imageTokens * config.embeddingDim)
        }

        /// The processed tokens `hs` (B, N, D), valid after `forward`.
        public var queries: UnsafePointer<Float> { UnsafePointer(final.queries) }
        /// The processed image tokens `src` (B, P, D), valid after `forward`.
        public var keys: UnsafePointer<Float> { UnsafePointer(blocks[blocks.count - 1].keys) }
        /// Floats held (memory is 4 bytes each).
        public var floatCount: Int { pool.totalCount }
    }
}
