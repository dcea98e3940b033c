import Layers
import Tensors

extension TwoWayTransformer {
    /// Backward of `forward`, read in reverse. Accumulates (+=) into `gradients` (views of a
    /// gradient buffer with the parameters' layout, zeroed by the caller) and `inputGradients`
    /// from dQueries (B, N, D), the upstream gradient of `hs`, and dKeys (B, P, D), that of `src`.
    /// `inputs`, `weights` and `activations` are those of the forward pass. A shared image or PE
    /// (repeats > 1) receives the sum over the rows that read it. `dKeys` is consumed: it serves as
    /// the running keys' gradient (one (B, P, D) buffer less) and holds no meaning on return.
    /// `scratch`, when given, holds at least B P D floats the pass may overwrite (a buffer of the
    /// caller's that is dead by now); otherwise the pass allocates them. The activations are consumed
    /// too: the keys each block saved hold gradients on return.
    public static func backward(
        gradients: Weights, inputGradients: InputGradients, dQueries: UnsafePointer<Float>,
        dKeys: UnsafeMutablePointer<Float>, scratch keysWithPE: UnsafeMutablePointer<Float>? = nil,
        inputs: Inputs, weights: Weights, activations: Activations
    ) {
        let pass = TransformerPass(inputs: inputs, activations: activations)
        let scratch = TransformerGradientScratch(pass, inputGradients: inputGradients, keys: dKeys,
                                                 keysWithPE: keysWithPE)
        let depth = activations.config.depth
        func keys(_ l: Int) -> SharedRows {
            l == 0 ? SharedRows(base: inputs.image, repeats: activations.shape.imageRepeats)
                : SharedRows(base: UnsafePointer(activations.blocks[l - 1].keys), repeats: 1)
        }
        func queries(_ l: Int) -> UnsafePointer<Float> {
            l == 0 ? inputs.tokens : UnsafePointer(activations.blocks[l - 1].q3)
        }
        pass.finalBackward(scratch, dQueries: dQueries, keys: keys(depth), weights: weights, gradients: gradients)
        for l in stride(from: depth - 1, through: 0, by: -1) {
            pass.blockBackward(l, scratch, queries: queries(l), keys: keys(l), weights: weights.layers[l],
                               gradients: gradients.layers[l])
        }
        if let dTokens = inputGradients.tokens {
            DecoderVector.accumulate(dTokens, scratch.queries, count: pass.tokenCount)
        }
    }
}

/// Gradient buffers of one backward pass.
struct TransformerGradientScratch {
    let buffers = DecoderBuffers()
    let inputs: TwoWayTransformer.InputGradients
    /// dL/d(current queries), dL/d(queries + tokens), LayerNorm input gradient: (B, N, D) each.
    let queries, queryPE, tokenScratch: UnsafeMutablePointer<Float>
    /// dL/d(current keys) (B, P, D), dL/d(keys + PE) (U, P, D). A block's norm4 input gradient
    /// goes into the keys that block saved (dead once the later blocks' backward has run).
    let keys, keysWithPE: UnsafeMutablePointer<Float>

    /// `keys` (B, P, D) is the caller's, holding dL/d src on entry; `keysWithPE` the caller's scratch or nil.
    init(_ pass: TransformerPass, inputGradients: TwoWayTransformer.InputGradients, keys: UnsafeMutablePointer<Float>,
         keysWithPE: UnsafeMutablePointer<Float>?) {
        inputs = inputGradients
        let t = pass.tokenCount, i = pass.s.batch * pass.imageStride
        (queries, queryPE, tokenScratch) = (buffers.take(t), buffers.take(t), buffers.take(t))
        self.keys = keys
        if let keysWithPE {
            keysWithPE.update(repeating: 0, count: i)
            self.keysWithPE = keysWithPE
        } else {
            self.keysWithPE = buffers.take(i)
        }
    }
}

/// Destination of the gradient of shared image rows (nil: not needed).
struct SharedGradientRows {
    var base: UnsafeMutablePointer<Float>?
    var repeats: Int

    func row(_ b: Int, stride: Int) -> UnsafeMutablePointer<Float>? { base.map { $0 + (b / repeats) * stride } }
}

extension TransformerPass {
    /// dx (rows, D) <- the input gradient of a LayerNorm (dx is zeroed first); accumulates its
    /// parameter gradients.
    func layerNormBackward(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, x: UnsafePointer<Float>,
                           stats: TwoWayNormStatistics, weights w: WeightAndBias, gradients gw: WeightAndBias,
                           rows: Int) {
        dx.update(repeating: 0, count: rows * d)
        LayerNorm.backward(dx: dx, dWeight: gw.weight, dBias: gw.bias, dy: dy, x: x, mean: stats.mean, rstd: stats.rstd,
                           weight: w.weight, rows: rows, features: d)
    }

    /// Moves the gradient of `queries + tokens` into the queries and the tokens; zeroes it.
    func flushQueryPE(_ g: TransformerGradientScratch) {
        DecoderVector.accumulate(g.queries, g.queryPE, count: tokenCount)
        if let dTokens = g.inputs.tokens { DecoderVector.accumulate(dTokens, g.queryPE, count: tokenCount) }
        g.queryPE.update(repeating: 0, count: tokenCount)
    }

    /// Moves the gradient of `keys + PE` (U units of g rows) into the keys and the image PE.
    func flushKeysWithPE(_ g: TransformerGradientScratch, keys: SharedGradientRows, rowsPerUnit rows: Int) {
        let peGradient = SharedGradientRows(base: g.inputs.imagePE, repeats: s.peRepeats)
        for u in 0..<(s.batch / rows) {
            let source = g.keysWithPE + u * imageStride
            if let k = keys.row(u * rows, stride: imageStride) {
                DecoderVector.accumulate(k, source, count: imageStride)
            }
            if let e = peGradient.row(u * rows, stride: imageStride) {
                DecoderVector.accumulate(e, source, count: imageStride)
            }
        }
    }

    /// Backward of `tokenToImage`: dy (B, N, D) into g.queryPE, g.keysWithPE and the values' gradient.
    func tokenToImageBackward(_ g: TransformerGradientScratch, dy: UnsafePointer<Float>, queries: UnsafePointer<Float>,
                              values: SharedRows, dValues: SharedGradientRows, rowsPerUnit rows: Int,
                              weights: AttentionWeights, gradients: AttentionWeights,
                              saved: TwoWayAttentionActivations) {
        let shape = crossShape(queries: rows * n, keys: p), di = c.crossInternalDim
        for u in 0..<(s.batch / rows) {
            let tokenOffset = u * rows * n
            DecoderAttention.backward(dq: g.queryPE + tokenOffset * d, dk: g.keysWithPE + u * imageStride,
                                      dv: dValues.row(u * rows, stride: imageStride), gradients: gradients.gradients,
                                      dy: dy + tokenOffset * d, q: queries + tokenOffset * d,
                                      k: keysWithPE(unit: u, keys: values, rowsPerUnit: rows),
                                      v: values.row(u * rows, stride: imageStride),
                                      saved: saved.saved(queryOffset: tokenOffset * di, keyOffset: u * p * di),
                                      parameters: weights.parameters, shape: shape)
        }
    }

    func finalBackward(_ g: TransformerGradientScratch, dQueries: UnsafePointer<Float>, keys: SharedRows,
                       weights w: TwoWayTransformer.Weights, gradients gw: TwoWayTransformer.Weights) {
        let f = a.final, dx = g.tokenScratch
        layerNormBackward(dx: dx, dy: dQueries, x: f.x, stats: f.norm, weights: w.finalNorm, gradients: gw.finalNorm,
                          rows: s.batch * n)
        g.queries.update(from: dx, count: tokenCount)
        let dKeys = SharedGradientRows(base: g.keys, repeats: 1)
        tokenToImageBackward(g, dy: dx, queries: f.queryPE, values: keys, dValues: dKeys, rowsPerUnit: 1,
                             weights: w.finalAttention, gradients: gw.finalAttention, saved: f.attention)
        flushQueryPE(g)
        flushKeysWithPE(g, keys: dKeys, rowsPerUnit: 1)
    }

    /// On entry g.queries / g.keys hold the gradients of the block's outputs; on exit those of
    /// its inputs (for layer 0 the keys' gradient goes to the image gradient instead).
    func blockBackward(_ l: Int, _ g: TransformerGradientScratch, queries q: UnsafePointer<Float>, keys: SharedRows,
                       weights w: TwoWayBlockWeights, gradients gw: TwoWayBlockWeights) {
        let b = a.blocks[l], rows = rowsPerUnit(layer: l), dx = g.tokenScratch, tokenRows = s.batch * n
        let keyScratch = b.keys   // norm4's input gradient
        let dKeys = l == 0 ? SharedGradientRows(base: g.inputs.image, repeats: s.imageRepeats)
            : SharedGradientRows(base: g.keys, repeats: 1)

        layerNormBackward(dx: keyScratch, dy: g.keys, x: b.x4, stats: b.norm4, weights: w.norm4, gradients: gw.norm4,
                          rows: s.batch * p)
        for row in 0..<s.batch {
            if let k = dKeys.row(row, stride: imageStride) {
                if l == 0 { DecoderVector.accumulate(k, keyScratch + row * imageStride, count: imageStride) }
                else { k.update(from: keyScratch + row * imageStride, count: imageStride) }
            }
        }
        g.keysWithPE.update(repeating: 0, count: s.batch * imageStride)
        imageToTokenBackward(l, g, keys: keys, weights: w.imageToToken, gradients: gw.imageToToken)
        flushQueryPE(g)

        layerNormBackward(dx: dx, dy: g.queries, x: b.x3, stats: b.norm3, weights: w.norm3, gradients: gw.norm3,
                          rows: tokenRows)
        g.queries.update(from: dx, count: tokenCount)
        MLPBlock.backward(dx: g.queries, gradients: gw.mlp, dy: dx, x: b.q2, hidden: b.mlpHidden, weights: w.mlp,
                          shape: mlpShape)

        layerNormBackward(dx: dx, dy: g.queries, x: b.x2, stats: b.norm2, weights: w.norm2, gradients: gw.norm2,
                          rows: tokenRows)
        g.queries.update(from: dx, count: tokenCount)
        tokenToImageBackward(g, dy: dx, queries: b.crossQueryPE, values: keys, dValues: dKeys, rowsPerUnit: rows,
                             weights: w.tokenToImage, gradients: gw.tokenToImage, saved: b.tokenToImage)
        flushQueryPE(g)
        flushKeysWithPE(g, keys: dKeys, rowsPerUnit: rows)

        layerNormBackward(dx: dx, dy: g.queries, x: b.x1, stats: b.norm1, weights: w.norm1, gradients: gw.norm1,
                          rows: tokenRows)
        if l == 0 {
            g.queries.update(repeating: 0, count: tokenCount)
            DecoderAttention.backward(dq: g.queries, dk: g.queries, dv: g.queries,
                                      gradients: gw.selfAttention.gradients, dy: dx,
                                      q: q, k: q, v: q, saved: b.selfAttention.saved(),
                                      parameters: w.selfAttention.parameters, shape: selfShape)
        } else {
            g.queries.update(from: dx, count: tokenCount)
            DecoderAttention.backward(dq: g.queryPE, dk: g.queryPE, dv: g.queries,
                                      gradients: gw.selfAttention.gradients, dy: dx,
                                      q: b.selfQueryPE, k: b.selfQueryPE, v: q, saved: b.selfAttention.saved(),
                                      parameters: w.selfAttention.parameters, shape: selfShape)
            flushQueryPE(g)
        }
    }

    /// Backward of `imageToToken`, row by row: norm4's input gradient (the block's saved keys) into
    /// g.keysWithPE (queries side), g.queryPE (keys side) and g.queries (values side).
    func imageToTokenBackward(_ l: Int, _ g: TransformerGradientScratch, keys: SharedRows, weights: AttentionWeights,
                              gradients: AttentionWeights) {
        let b = a.blocks[l], rows = rowsPerUnit(layer: l), di = c.crossInternalDim
        let shape = crossShape(queries: p, keys: n)
        for row in 0..<s.batch {
            let unit = (row / rows) * imageStride
            let q = row % rows == 0 ? keysWithPE(unit: row / rows, keys: keys, rowsPerUnit: rows)
                : UnsafePointer(a.keysWithPE)
            let saved = b.imageToToken.saved(queryOffset: row * p * di, keyOffset: row * n * di)
            DecoderAttention.recomputeContext(saved: saved, shape: shape)   // forward kept one row's
            DecoderAttention.backward(dq: g.keysWithPE + unit, dk: g.queryPE + row * n * d, dv: g.queries + row * n * d,
                                      gradients: gradients.gradients, dy: b.keys + row * imageStride,
                                      q: q, k: b.tokenKeyPE + row * n * d, v: b.q3 + row * n * d,
                                      saved: saved, parameters: weights.parameters, shape: shape)
        }
    }
}
