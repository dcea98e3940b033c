import Layers
import Tensors

/// One ViT block of the image encoder, in place on the workspace's token stream:
/// `x = x + attn(norm1(x))` (window partition after norm1, zero padding to a multiple of the
/// window, padded tokens act as keys/values without a mask, cropped afterwards; fixtures quirk 15),
/// then `x = x + lin2(GELU(lin1(norm2(x))))` (GELU fused into lin1 where `Linear.fusesGELU`).
///
/// ref: segment_anything/modeling/image_encoder.py @ dca509f, `Block.forward` (lines 156-172);
/// common.py `MLPBlock.forward`.
/// Shapes: N = B g g tokens, C embed dim, M MLP dim; tokens, normed (N, C); hidden (N, M) in the
/// workspace's qkv buffer; a windowed block's qkv and context in window layout (B * nW, S, S, .).
extension ImageEncoder {
    func block(_ i: Int, _ ws: ImageEncoderWorkspace) {
        let c = config, w = weights, b = weights.blocks[i]
        let rows = ws.batch * c.gridSize * c.gridSize, e = c.embedDim, m = c.mlpDim
        ws.timed(.norms) { layerNorm(ws.normed, ws.tokens, w[b.norm1Weight], w[b.norm1Bias], rows: rows, ws) }
        attention(i, ws)
        ws.timed(.norms) { layerNorm(ws.normed, ws.tokens, w[b.norm2Weight], w[b.norm2Bias], rows: rows, ws) }
        if let r = reduced?.blocks[i] {
            ws.timed(.mlpLinear) { mlpBFloat16(i, r, ws) }
        } else {
            let hidden = ws.qkv
            if Linear.fusesGELU {
                ws.timed(.mlpLinear) {
                    Linear.forwardGELU(y: hidden, x: ws.normed, weight: w[b.mlpLin1Weight], bias: w[b.mlpLin1Bias],
                                       rows: rows, inFeatures: e, outFeatures: m)
                }
            } else {
                ws.timed(.mlpLinear) {
                    Linear.forward(y: hidden, x: ws.normed, weight: w[b.mlpLin1Weight], bias: w[b.mlpLin1Bias],
                                   rows: rows, inFeatures: e, outFeatures: m)
                }
                ws.timed(.gelu) { GELU.forward(y: hidden, x: hidden, count: rows * m) }
            }
            ws.timed(.mlpLinear) {
                Linear.forward(y: ws.attended, x: hidden, weight: w[b.mlpLin2Weight], bias: w[b.mlpLin2Bias],
                               rows: rows, inFeatures: m, outFeatures: e)
            }
        }
        ws.timed(.norms) { addRows(ws.tokens, ws.attended, rows: rows, width: e) }
    }

    /// attended <- lin2(GELU(lin1(normed))) in bfloat16: GELU is lin1's oneDNN post-op and the hidden
    /// activations (N, M) are bfloat16 bits in the qkv buffer (it holds N M floats, twice the bytes).
    func mlpBFloat16(_ i: Int, _ r: ReducedEncoderWeights.Block, _ ws: ImageEncoderWorkspace) {
        let c = config, w = weights, b = weights.blocks[i]
        let rows = ws.batch * c.gridSize * c.gridSize, e = c.embedDim, m = c.mlpDim
        ws.qkv.withMemoryRebound(to: UInt16.self, capacity: 2 * rows * m) { hidden in
            BFloat16Linear.forwardGELU(bits: hidden, x: ws.normed, weight: r.lin1, bias: w[b.mlpLin1Bias], rows: rows,
                                       inFeatures: e, outFeatures: m)
            BFloat16Linear.forward(y: ws.attended, bits: hidden, weight: r.lin2, bias: w[b.mlpLin2Bias], rows: rows,
                                   inFeatures: m, outFeatures: e)
        }
    }

    /// tokens += attn(normed), global or windowed.
    private func attention(_ i: Int, _ ws: ImageEncoderWorkspace) {
        let c = config, rows = ws.batch * c.gridSize * c.gridSize
        let parameters = attentionParameters(i), shape = attentionShape(i, ws)
        let saved = EncoderAttention.Saved(qkv: ws.qkv, context: ws.context)
        if c.isGlobal(i) {
            ws.timed(.attentionGlobal) {
                EncoderAttention.forward(y: ws.attended, x: ws.normed, parameters: parameters, shape: shape,
                                         saved: saved)
            }
        } else {
            ws.timed(.attentionWindowed) {
                EncoderAttention.forwardWindowed(y: ws.attended, x: ws.normed, parameters: parameters, shape: shape,
                                                 grid: windowGrid(ws), saved: saved, scratch: ws.windowedScratch)
            }
        }
        ws.timed(.norms) { addRows(ws.tokens, ws.attended, rows: rows, width: c.embedDim) }
    }

    /// The token grids cut into the windows of windowed blocks.
    func windowGrid(_ ws: ImageEncoderWorkspace) -> EncoderAttention.Grid {
        EncoderAttention.Grid(images: ws.batch, height: config.gridSize, width: config.gridSize,
                              window: config.windowSize)
    }

    /// Block i's attention grids: the images for a global block, their windows otherwise.
    func attentionShape(_ i: Int, _ ws: ImageEncoderWorkspace) -> EncoderAttention.Shape {
        let c = config, global = c.isGlobal(i), side = global ? c.gridSize : c.windowSize
        return EncoderAttention.Shape(batch: global ? ws.batch : windowGrid(ws).windows, height: side, width: side,
                                      channels: c.embedDim, heads: c.heads, useRelativePosition: true)
    }

    /// Block i's attention weights (with their bfloat16 copies when the precision is bf16).
    func attentionParameters(_ i: Int) -> EncoderAttention.Parameters {
        let w = weights, b = weights.blocks[i]
        return EncoderAttention.Parameters(
            qkvWeight: w[b.attnQkvWeight], qkvBias: w[b.attnQkvBias], projWeight: w[b.attnProjWeight],
            projBias: w[b.attnProjBias], relPosH: w[b.attnRelPosH], relPosW: w[b.attnRelPosW],
            qkvWeightBF16: reduced.map { UnsafePointer($0.blocks[i].qkv) },
            projWeightBF16: reduced.map { UnsafePointer($0.blocks[i].proj) })
    }

    /// y (rows, C) <- LayerNorm(x) with eps from the config, row-parallel.
    private func layerNorm(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>,
                           _ bias: UnsafePointer<Float>, rows: Int, _ ws: ImageEncoderWorkspace) {
        let e = config.embedDim, eps = config.eps
        RowParallel.run(rows: rows, width: e) { r in
            let offset = r.lowerBound * e
            LayerNorm.forward(y: y + offset, mean: ws.rowMean + r.lowerBound, rstd: ws.rowRstd + r.lowerBound,
                              x: x + offset, weight: weight, bias: bias, rows: r.count, features: e, eps: eps)
        }
    }

    /// x (rows, width) += y, row-parallel.
    private func addRows(_ x: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, rows: Int, width: Int) {
        RowParallel.run(rows: rows, width: width) { r in
            let start = r.lowerBound &* width
            for k in start..<(r.upperBound &* width) { x[k] += y[k] }
        }
    }
}
