import Layers
import Tensors

extension ImageEncoder {
    /// Only the matrix products of `forward(output:images:workspace:)`, with its shapes, precision,
    /// blocking and threading: the patch and neck convolutions, and per block the qkv projection,
    /// the attention's per-head products (`EncoderAttention.forwardProductsOnly`), the output
    /// projection and the two MLP linears (lin1 with its GELU epilogue where the real pass fuses it:
    /// bf16, and fp32 on AVX-512). LayerNorms, a separate GELU pass, softmax, relative positions,
    /// window partitions and residual sums are skipped, so the time of this call is the encoder's
    /// GEMM roofline on its own shapes (`bench encoder`). It overwrites the workspace and `output`
    /// with meaningless values; run it on a workspace a real pass has filled (no uninitialised
    /// operands).
    public func forwardProductsOnly(output: UnsafeMutablePointer<Float>, images: UnsafePointer<Float>,
                                    workspace ws: ImageEncoderWorkspace) {
        precondition(ws.config == config, "workspace made for another configuration")
        let c = config, w = weights, g = c.gridSize, e = c.embedDim, rows = ws.batch * g * g
        let patch = Conv2d.Shape(batch: ws.batch, inChannels: 3, outChannels: e, height: c.imageSize,
                                 width: c.imageSize, kernel: c.patchSize, stride: c.patchSize)
        Conv2d.forward(y: ws.normed, x: images, weight: w[w.patchEmbedProjWeight], bias: w[w.patchEmbedProjBias],
                       shape: patch)
        for i in 0..<c.depth {
            let b = w.blocks[i], r = reduced?.blocks[i]
            let saved = EncoderAttention.Saved(qkv: ws.qkv, context: ws.context)
            EncoderAttention.forwardProductsOnly(y: ws.attended, x: ws.normed, parameters: attentionParameters(i),
                                                 shape: attentionShape(i, ws), saved: saved, projectionRows: rows)
            if let r {
                mlpBFloat16(i, r, ws)
            } else {
                let lin1 = Linear.fusesGELU ? Linear.forwardGELU : Linear.forward
                lin1(ws.qkv, ws.normed, w[b.mlpLin1Weight], w[b.mlpLin1Bias], rows, e, c.mlpDim)
                Linear.forward(y: ws.attended, x: ws.qkv, weight: w[b.mlpLin2Weight], bias: w[b.mlpLin2Bias],
                               rows: rows, inFeatures: c.mlpDim, outFeatures: e)
            }
        }
        let reduce = Conv2d.Shape(batch: ws.batch, inChannels: e, outChannels: c.outChannels, height: g, width: g,
                                  kernel: 1)
        Conv2d.forward(y: ws.neck, x: ws.normed, weight: w[w.neck0Weight], bias: nil, shape: reduce)
        let mix = Conv2d.Shape(batch: ws.batch, inChannels: c.outChannels, outChannels: c.outChannels,
                               height: g, width: g, kernel: 3, padding: 1)
        Conv2d.forward(y: output, x: ws.neck, weight: w[w.neck2Weight], bias: nil, shape: mix)
    }
}
