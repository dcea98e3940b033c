import Layers
import Tensors

/// SAM's `TwoWayTransformer` (DESIGN §3.2) with a backward pass. Tokens ("queries") and image
/// tokens ("keys") attend to each other in `depth` blocks, then a final token-to-image attention:
///
///     block l (queries Q, keys K, tokens T = query PE, image PE E):
///       Q = norm1(l == 0 ? selfAttn(Q, Q, Q) : Q + selfAttn(Q+T, Q+T, Q))   // layer 0: no PE, no residual
///       Q = norm2(Q + tokenToImage(Q+T, K+E, K))
///       Q = norm3(Q + mlp(Q))                                              // Linear, ReLU, Linear
///       K = norm4(K + imageToToken(K+E, Q+T, Q))
///     hs = norm_final(Q + finalTokenToImage(Q+T, K+E, K)); src = K
///
/// The cross attentions project to D / downsampleRate; every LayerNorm has eps 1e-5.
/// ref: segment_anything/modeling/transformer.py @ dca509f, `TwoWayTransformer.forward`
/// and `TwoWayAttentionBlock.forward`.
///
/// Shapes: B sequences (rows), N tokens, P = h*w image tokens, D dim, Di = D / rate, M MLP dim,
/// U units of the layer-0 token-to-image attention (B / g rows sharing keys). Image tensors are in
/// token layout (P, D) per image (SAM's `flatten(2).permute(0, 2, 1)`; see `channelsToTokens`).
///
/// Sharing: row b reads image `b / imageRepeats` and PE `b / peRepeats` (torch
/// `repeat_interleave`), so an image embedding used by K consecutive rows (AutoSAM's classes) is
/// given once. In layer 0 the token-to-image attention runs once per group of
/// g = gcd(imageRepeats, peRepeats) rows (their keys are identical), so the shared image's
/// projections are computed once per group, not per row.
public enum TwoWayTransformer {
    public struct Shape: Equatable, Sendable {
        /// B, N, P.
        public var batch, tokens, imageTokens: Int
        /// Consecutive rows that share one image / one PE.
        public var imageRepeats, peRepeats: Int

        public init(batch: Int, tokens: Int, imageTokens: Int, imageRepeats: Int = 1, peRepeats: Int = 1) {
            precondition(batch > 0 && tokens > 0 && imageTokens > 0, "empty transformer input")
            precondition(imageRepeats > 0 && batch % imageRepeats == 0 && peRepeats > 0 && batch % peRepeats == 0,
                         "repeats (\(imageRepeats), \(peRepeats)) must divide the batch \(batch)")
            (self.batch, self.tokens, self.imageTokens) = (batch, tokens, imageTokens)
            (self.imageRepeats, self.peRepeats) = (imageRepeats, peRepeats)
        }

        /// g: rows per unit of the layer-0 token-to-image attention.
        public var sharedRows: Int {
            var (a, b) = (imageRepeats, peRepeats)
            while b != 0 { (a, b) = (b, a % b) }
            return a
        }

        /// Units U of the token-to-image attention of a layer (B / g in layer 0, else B).
        func units(layer: Int) -> Int { layer == 0 ? batch / sharedRows : batch }
    }

    /// tokens (B, N, D): the initial queries and their PE (SAM's `point_embedding`);
    /// image (B / imageRepeats, P, D); imagePE (B / peRepeats, P, D).
    public struct Inputs {
        public var tokens, image, imagePE: UnsafePointer<Float>

        public init(tokens: UnsafePointer<Float>, image: UnsafePointer<Float>, imagePE: UnsafePointer<Float>) {
            (self.tokens, self.image, self.imagePE) = (tokens, image, imagePE)
        }
    }

    /// Gradients of the inputs, same shapes as `Inputs`, accumulated (+=); nil: not needed.
    public struct InputGradients {
        public var tokens, image, imagePE: UnsafeMutablePointer<Float>?

        public init(tokens: UnsafeMutablePointer<Float>? = nil, image: UnsafeMutablePointer<Float>? = nil,
                    imagePE: UnsafeMutablePointer<Float>? = nil) {
            (self.tokens, self.image, self.imagePE) = (tokens, image, imagePE)
        }
    }

    /// Runs the transformer; outputs `activations.queries` (B, N, D) and `activations.keys`
    /// (B, P, D), and keeps what `backward` needs.
    public static func forward(inputs: Inputs, weights: Weights, activations: Activations) {
        let pass = TransformerPass(inputs: inputs, activations: activations)
        var queries = inputs.tokens
        var keys = SharedRows(base: inputs.image, repeats: activations.shape.imageRepeats)
        for l in 0..<activations.config.depth {
            pass.block(l, queries: queries, keys: keys, weights: weights.layers[l])
            queries = UnsafePointer(activations.blocks[l].q3)
            keys = SharedRows(base: UnsafePointer(activations.blocks[l].keys), repeats: 1)
        }
        pass.final(queries: queries, keys: keys, weights: weights)
    }
}

/// Rows of an image-token tensor shared by `repeats` consecutive sequences.
struct SharedRows {
    var base: UnsafePointer<Float>
    var repeats: Int

    func row(_ b: Int, stride: Int) -> UnsafePointer<Float> { base + (b / repeats) * stride }
}

/// One forward (and backward) pass: dimensions, inputs and activations in one place.
struct TransformerPass {
    let c: TwoWayTransformerConfig
    let s: TwoWayTransformer.Shape
    let inputs: TwoWayTransformer.Inputs
    let a: TwoWayTransformer.Activations
    let d, n, p: Int

    init(inputs: TwoWayTransformer.Inputs, activations: TwoWayTransformer.Activations) {
        (c, s, self.inputs, a) = (activations.config, activations.shape, inputs, activations)
        (d, n, p) = (c.embeddingDim, s.tokens, s.imageTokens)
    }

    var tokenCount: Int { s.batch * n * d }
    var imageStride: Int { p * d }
    var pe: SharedRows { SharedRows(base: inputs.imagePE, repeats: s.peRepeats) }
    var selfShape: DecoderAttention.Shape {
        DecoderAttention.Shape(batch: s.batch, queries: n, keys: n, embeddingDim: d, heads: c.heads)
    }
    var mlpShape: MLPBlock.Shape {
        MLPBlock.Shape(rows: s.batch * n, inputDim: d, hiddenDim: c.mlpDim, outputDim: d, layers: 2)
    }

    func crossShape(queries: Int, keys: Int) -> DecoderAttention.Shape {
        DecoderAttention.Shape(batch: 1, queries: queries, keys: keys, embeddingDim: d, heads: c.heads,
                               downsampleRate: c.downsampleRate)
    }

    func rowsPerUnit(layer: Int) -> Int { layer == 0 ? s.sharedRows : 1 }

    func layerNorm(_ y: UnsafeMutablePointer<Float>, _ stats: TwoWayNormStatistics, _ x: UnsafePointer<Float>,
                   _ w: WeightAndBias, rows: Int) {
        LayerNorm.forward(y: y, mean: stats.mean, rstd: stats.rstd, x: x, weight: w.weight, bias: w.bias,
                          rows: rows, features: d, eps: c.layerNormEps)
    }

    /// a.keysWithPE (P, D) <- keys + image PE of unit u (g rows), returned. One unit at a time: the
    /// sum is recomputed at each use (a pass over P D floats that stay in cache for the projection
    /// GEMM that reads them) instead of holding (U, P, D) floats.
    func keysWithPE(unit u: Int, keys: SharedRows, rowsPerUnit g: Int) -> UnsafePointer<Float> {
        let k = keys.row(u * g, stride: imageStride), e = pe.row(u * g, stride: imageStride)
        DecoderVector.add(a.keysWithPE, k, e, count: imageStride)
        return UnsafePointer(a.keysWithPE)
    }

    /// y (B, N, D) <- attention of the queries (B, N, D) to keys+PE and values,
    /// one call per unit of g rows (whose queries are contiguous: g*N query rows).
    func tokenToImage(y: UnsafeMutablePointer<Float>, queries: UnsafePointer<Float>, values: SharedRows,
                      rowsPerUnit g: Int, weights: AttentionWeights, saved: TwoWayAttentionActivations) {
        let shape = crossShape(queries: g * n, keys: p), di = c.crossInternalDim
        for u in 0..<(s.batch / g) {
            let tokenOffset = u * g * n
            DecoderAttention.forward(y: y + tokenOffset * d, q: queries + tokenOffset * d,
                                     k: keysWithPE(unit: u, keys: values, rowsPerUnit: g),
                                     v: values.row(u * g, stride: imageStride),
                                     parameters: weights.parameters, shape: shape,
                                     saved: saved.saved(queryOffset: tokenOffset * di, keyOffset: u * p * di))
        }
    }

    func block(_ l: Int, queries q: UnsafePointer<Float>, keys: SharedRows, weights w: TwoWayBlockWeights) {
        let b = a.blocks[l], tokens = inputs.tokens, rows = s.batch * n
        if l == 0 {
            DecoderAttention.forward(y: b.x1, q: q, k: q, v: q, parameters: w.selfAttention.parameters,
                                     shape: selfShape, saved: b.selfAttention.saved())
        } else {
            DecoderVector.add(b.selfQueryPE, q, tokens, count: tokenCount)
            DecoderAttention.forward(y: b.x1, q: b.selfQueryPE, k: b.selfQueryPE, v: q,
                                     parameters: w.selfAttention.parameters, shape: selfShape,
                                     saved: b.selfAttention.saved())
            DecoderVector.accumulate(b.x1, q, count: tokenCount)
        }
        layerNorm(b.q1, b.norm1, b.x1, w.norm1, rows: rows)

        DecoderVector.add(b.crossQueryPE, b.q1, tokens, count: tokenCount)
        tokenToImage(y: b.x2, queries: b.crossQueryPE, values: keys, rowsPerUnit: rowsPerUnit(layer: l),
                     weights: w.tokenToImage, saved: b.tokenToImage)
        DecoderVector.accumulate(b.x2, b.q1, count: tokenCount)
        layerNorm(b.q2, b.norm2, b.x2, w.norm2, rows: rows)

        MLPBlock.forward(y: b.x3, hidden: b.mlpHidden, x: b.q2, weights: w.mlp, shape: mlpShape)
        DecoderVector.accumulate(b.x3, b.q2, count: tokenCount)
        layerNorm(b.q3, b.norm3, b.x3, w.norm3, rows: rows)

        DecoderVector.add(b.tokenKeyPE, b.q3, tokens, count: tokenCount)
        imageToToken(l, keys: keys, weights: w.imageToToken)
        layerNorm(b.keys, b.norm4, b.x4, w.norm4, rows: s.batch * p)
    }

    /// x4 (B, P, D) <- keys + attention of keys+PE to the tokens, row by row. The attention's
    /// context is kept for one row only (backward recomputes it from q' and k': 3 keys per query).
    func imageToToken(_ l: Int, keys: SharedRows, weights: AttentionWeights) {
        let b = a.blocks[l], g = rowsPerUnit(layer: l), di = c.crossInternalDim
        let shape = crossShape(queries: p, keys: n)
        for row in 0..<s.batch {
            let y = b.x4 + row * imageStride
            let q = row % g == 0 ? keysWithPE(unit: row / g, keys: keys, rowsPerUnit: g) : UnsafePointer(a.keysWithPE)
            DecoderAttention.forward(y: y, q: q, k: b.tokenKeyPE + row * n * d,
                                     v: b.q3 + row * n * d, parameters: weights.parameters, shape: shape,
                                     saved: b.imageToToken.saved(queryOffset: row * p * di, keyOffset: row * n * di))
            DecoderVector.accumulate(y, keys.row(row, stride: imageStride), count: imageStride)
        }
    }

    func final(queries q: UnsafePointer<Float>, keys: SharedRows, weights w: TwoWayTransformer.Weights) {
        let f = a.final
        DecoderVector.add(f.queryPE, q, inputs.tokens, count: tokenCount)
        tokenToImage(y: f.x, queries: f.queryPE, values: keys, rowsPerUnit: 1, weights: w.finalAttention,
                     saved: f.attention)
        DecoderVector.accumulate(f.x, q, count: tokenCount)
        layerNorm(f.queries, f.norm, f.x, w.finalNorm, rows: s.batch * n)
    }
}

/// Element-wise sums used by the decoder's residual connections and PE additions; large ones
/// (the image side, P D floats per row) run on the BLAS threads' cores (`RowParallel`).
enum DecoderVector {
    /// y (n) <- a + b.
    static func add(_ y: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                    count: Int) {
        RowParallel.elements(count) { start, length in
            let (y, a, b) = (y + start, a + start, b + start)
            for i in 0..<length { y[i] = a[i] + b[i] }
        }
    }

    /// y (n) += x.
    static func accumulate(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count: Int) {
        RowParallel.elements(count) { start, length in
            let (y, x) = (y + start, x + start)
            for i in 0..<length { y[i] += x[i] }
        }
    }
}
