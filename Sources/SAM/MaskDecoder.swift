import TensorFiles
import Layers
import Tensors

/// SAM's original `MaskDecoder` (forward only; DESIGN §3.2), used by the zero-shot box baseline.
/// Tokens per prompt are [iou_token, mask_tokens (M), sparse prompts]; src = image embedding +
/// dense prompt embedding; the two-way transformer; output upscaling of src; mask i =
/// hypernetwork MLP i (mask token i) . every upscaled pixel; IoU = MLP(iou token).
/// ref: segment_anything/modeling/mask_decoder.py @ dca509f, `MaskDecoder`.
///
/// The pieces the AutoSAM head trains are separate, with backward passes: `TwoWayTransformer`,
/// `MaskDecoder.Upscaling`, `MLPBlock` (hypernetworks), `MaskDecoder.MaskProduct`.
///
/// Shapes: B prompts, n sparse tokens, N = 1 + M + n tokens, D dim, h x w grid, P = h*w,
/// C = D/8 upscaled channels, Q = 16 P upscaled pixels.
public struct MaskDecoder {
    public static let prefix = "mask_decoder."
    public let config: MaskDecoderConfig
    /// Parameters by checkpoint key (`mask_decoder.*`) in one flat buffer.
    public let layout: ParameterLayout
    public let values: [Float]
    public let loadReport: LoadReport

    /// Low-resolution mask logits (B, M', 4h, 4w) and IoU predictions (B, M').
    public struct Prediction {
        public var masks: Tensor
        public var iouPredictions: Tensor
    }

    /// Loads `mask_decoder.*` from a SAM checkpoint, the configuration inferred from its shapes
    /// unless given (`heads` is not visible in shapes). Throws a `LoadError` listing
    /// missing, unused and mis-shaped keys.
    public init(loading archive: any TensorArchive, heads: Int = 8, config: MaskDecoderConfig? = nil) throws {
        let config = try config ?? .inferred(from: archive, heads: heads)
        let layout = ParameterLayout(config.parameterShapes())
        (self.config, self.layout) = (config, layout)
        (values, loadReport) = try ParameterLoader.load(archive, layout: layout, scope: Self.prefix)
    }

    /// `MaskDecoder.forward`: image embedding (1, D, h, w) shared by all B prompts, image PE
    /// (1, D, h, w), sparse (B, n, D), dense (B, D, h, w). With `multimaskOutput` masks 1..<M are
    /// returned, else mask 0.
    public func predict(imageEmbedding: Tensor, imagePE: Tensor, sparsePrompts: Tensor, densePrompts: Tensor,
                        multimaskOutput: Bool) -> Prediction {
        let d = config.transformerDim, b = sparsePrompts.shape[0]
        let (h, w) = (imageEmbedding.shape[2], imageEmbedding.shape[3])
        precondition(imageEmbedding.shape == [1, d, h, w] && imagePE.shape == [1, d, h, w],
                     "image embedding and PE must be (1, \(d), h, w)")
        precondition(sparsePrompts.rank == 3 && sparsePrompts.shape[2] == d && densePrompts.shape == [b, d, h, w],
                     "sparse (B, n, \(d)) and dense (B, \(d), \(h), \(w)) prompts, "
                     + "got \(sparsePrompts.shape), \(densePrompts.shape)")
        let all = values.withUnsafeBufferPointer { buffer in
            run(base: UnsafeMutablePointer(mutating: buffer.baseAddress!), imageEmbedding: imageEmbedding,
                imagePE: imagePE, sparse: sparsePrompts, dense: densePrompts)
        }
        return Self.select(all, multimaskOutput: multimaskOutput)
    }

    /// `predict_masks`: every mask (B, M, 4h, 4w) and IoU (B, M).
    private func run(base: UnsafeMutablePointer<Float>, imageEmbedding: Tensor, imagePE: Tensor, sparse: Tensor,
                     dense: Tensor) -> Prediction {
        let c = config, d = c.transformerDim, m = c.numMaskTokens, b = sparse.shape[0]
        let (h, w) = (imageEmbedding.shape[2], imageEmbedding.shape[3]), p = h * w
        let shape = TwoWayTransformer.Shape(batch: b, tokens: 1 + m + sparse.shape[1], imageTokens: p, peRepeats: b)
        let buffers = DecoderBuffers()
        let tokens = buffers.take(b * shape.tokens * d)                  // (B, N, D)
        let src = buffers.take(b * p * d)                                // (B, P, D) image + dense prompt
        let image = buffers.take(p * d), pe = buffers.take(p * d)        // (1, P, D) each
        fillTokens(tokens, sparse: sparse, base: base)
        imageEmbedding.withPointer {
            TwoWayTransformer.channelsToTokens(y: image, x: $0, batch: 1, channels: d, pixels: p)
        }
        imagePE.withPointer { TwoWayTransformer.channelsToTokens(y: pe, x: $0, batch: 1, channels: d, pixels: p) }
        dense.withPointer { TwoWayTransformer.channelsToTokens(y: src, x: $0, batch: b, channels: d, pixels: p) }
        for r in 0..<b { DecoderVector.accumulate(src + r * p * d, image, count: p * d) }

        let activations = TwoWayTransformer.Activations(config: c.transformer, shape: shape)
        let transformerWeights = TwoWayTransformer.Weights(layout: layout, prefix: Self.prefix + "transformer.",
                                                           config: c.transformer, base: base)
        TwoWayTransformer.forward(inputs: .init(tokens: tokens, image: src, imagePE: pe), weights: transformerWeights,
                                  activations: activations)
        let upscaledShape = Upscaling.Shape(batch: b, channels: d, height: h, width: w)
        let srcChannels = buffers.take(b * p * d)                        // (B, D, h, w)
        let upscaled = buffers.take(upscaledShape.outputCount)           // (B, C, 4h, 4w)
        TwoWayTransformer.tokensToChannels(y: srcChannels, x: activations.keys, batch: b, channels: d, pixels: p)
        let upscalingWeights = Upscaling.Weights(layout: layout, prefix: Self.prefix + "output_upscaling.", base: base)
        Upscaling.forward(y: upscaled, x: srcChannels, weights: upscalingWeights,
                          activations: .init(shape: upscaledShape))

        let hyper = hypernetworks(tokens: activations.queries, count: shape.tokens, rows: b, buffers: buffers,
                                  base: base)
        var masks = Tensor(zeros: [b, m, 4 * h, 4 * w])
        masks.withMutablePointer {
            MaskProduct.forward(masks: $0, hyper: hyper, upscaled: upscaled, batch: b, masks: m, channels: d / 8,
                                pixels: 16 * p)
        }
        let iou = mlp(Self.prefix + "iou_prediction_head.", c.iouHeadShape(rows: b), tokens: activations.queries,
                      index: 0, of: shape.tokens, buffers: buffers, base: base)
        let iouPredictions = Tensor(shape: [b, m], data: Array(UnsafeBufferPointer(start: iou, count: b * m)))
        return Prediction(masks: masks, iouPredictions: iouPredictions)
    }

    /// hyper_in (B, M, C): hypernetwork MLP i applied to mask token i (token 1 + i) of each row of
    /// tokens (B, N, D).
    private func hypernetworks(tokens: UnsafePointer<Float>, count n: Int, rows b: Int, buffers: DecoderBuffers,
                               base: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<Float> {
        let m = config.numMaskTokens, c = config.transformerDim / 8
        let hyper = buffers.take(b * m * c)
        for i in 0..<m {
            let out = mlp(Self.prefix + "output_hypernetworks_mlps.\(i).", config.hypernetworkShape(rows: b),
                          tokens: tokens, index: 1 + i, of: n, buffers: buffers, base: base)
            for r in 0..<b { (hyper + (r * m + i) * c).update(from: out + r * c, count: c) }
        }
        return hyper
    }

    /// tokens (B, N, D) <- [iou_token, mask_tokens, sparse[b]] per prompt.
    private func fillTokens(_ tokens: UnsafeMutablePointer<Float>, sparse: Tensor, base: UnsafeMutablePointer<Float>) {
        let d = config.transformerDim, m = config.numMaskTokens, b = sparse.shape[0], n = sparse.shape[1]
        let iou = layout.parameterPointer(Self.prefix + "iou_token.weight", base: base)
        let maskTokens = layout.parameterPointer(Self.prefix + "mask_tokens.weight", base: base)
        sparse.withPointer { prompts in
            for r in 0..<b {
                let row = tokens + r * (1 + m + n) * d
                row.update(from: iou, count: d)
                (row + d).update(from: maskTokens, count: m * d)
                (row + (1 + m) * d).update(from: prompts + r * n * d, count: n * d)
            }
        }
    }

    /// The MLP `<prefix>layers.*` applied to token `index` of every row of tokens (B, N, D):
    /// (B, O) in a buffer of `buffers`.
    private func mlp(_ prefix: String, _ shape: MLPBlock.Shape, tokens: UnsafePointer<Float>, index: Int, of n: Int,
                     buffers: DecoderBuffers, base: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<Float> {
        let d = shape.inputDim
        let x = buffers.take(shape.rows * d), hidden = buffers.take(shape.hiddenCount)
        let y = buffers.take(shape.rows * shape.outputDim)
        for r in 0..<shape.rows { (x + r * d).update(from: tokens + (r * n + index) * d, count: d) }
        let weights = (0..<shape.layers).map {
            WeightAndBias(layout: layout, prefix: "\(prefix)layers.\($0).", base: base)
        }
        MLPBlock.forward(y: y, hidden: hidden, x: x, weights: weights, shape: shape)
        return y
    }

    /// Masks 1..<M with multimask output, else mask 0.
    static func select(_ all: Prediction, multimaskOutput: Bool) -> Prediction {
        let (b, m) = (all.masks.shape[0], all.masks.shape[1]), plane = all.masks.shape[2] * all.masks.shape[3]
        let chosen = multimaskOutput ? Array(1..<m) : [0]
        var masks: [Float] = [], iou: [Float] = []
        for r in 0..<b {
            for i in chosen {
                masks += all.masks.data[(r * m + i) * plane ..< (r * m + i + 1) * plane]
                iou.append(all.iouPredictions.data[r * m + i])
            }
        }
        return Prediction(masks: Tensor(shape: [b, chosen.count, all.masks.shape[2], all.masks.shape[3]], data: masks),
                          iouPredictions: Tensor(shape: [b, chosen.count], data: iou))
    }
}
