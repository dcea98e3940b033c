import TensorFiles
import Tensors

/// Configuration of SAM's original `MaskDecoder` (SAM: dim 256, 3 multimask outputs, IoU head
/// depth 3 and hidden dim 256, the two-way transformer of `TwoWayTransformerConfig`).
public struct MaskDecoderConfig: Codable, Equatable, Sendable {
    public var transformer: TwoWayTransformerConfig
    public var numMultimaskOutputs: Int
    public var iouHeadDepth: Int
    public var iouHeadHiddenDim: Int

    public init(transformer: TwoWayTransformerConfig, numMultimaskOutputs: Int = 3, iouHeadDepth: Int = 3,
                iouHeadHiddenDim: Int) {
        precondition(transformer.embeddingDim % 8 == 0, "the transformer dim must be divisible by 8")
        (self.transformer, self.numMultimaskOutputs) = (transformer, numMultimaskOutputs)
        (self.iouHeadDepth, self.iouHeadHiddenDim) = (iouHeadDepth, iouHeadHiddenDim)
    }

    /// D.
    public var transformerDim: Int { transformer.embeddingDim }
    /// M = multimask outputs + 1 mask tokens (and hypernetwork MLPs).
    public var numMaskTokens: Int { numMultimaskOutputs + 1 }

    /// A hypernetwork MLP, `MLP(D, D, D/8, 3)`, over `rows` tokens.
    public func hypernetworkShape(rows: Int) -> MLPBlock.Shape {
        MLPBlock.Shape(rows: rows, inputDim: transformerDim, hiddenDim: transformerDim, outputDim: transformerDim / 8,
                       layers: 3)
    }

    /// The IoU head, `MLP(D, hidden, M, depth)`, over `rows` tokens.
    public func iouHeadShape(rows: Int) -> MLPBlock.Shape {
        MLPBlock.Shape(rows: rows, inputDim: transformerDim, hiddenDim: iouHeadHiddenDim, outputDim: numMaskTokens,
                       layers: iouHeadDepth)
    }

    /// Infers everything from the `mask_decoder.*` shapes of a SAM checkpoint except the head
    /// count, which leaves no trace in them (SAM: 8).
    public static func inferred(from archive: any TensorArchive, heads: Int = 8) throws -> Self {
        let p = MaskDecoder.prefix
        let transformer = try TwoWayTransformerConfig.inferred(from: archive, prefix: p + "transformer.", heads: heads)
        let tokens = try ParameterLoader.shape(archive, p + "mask_tokens.weight", for: "the number of mask tokens")
        let iouDepth = ParameterLoader.count(archive) { "\(p)iou_prediction_head.layers.\($0).weight" }
        let iouFirst = try ParameterLoader.shape(archive, p + "iou_prediction_head.layers.0.weight",
                                                 for: "the IoU head width")
        guard tokens.count == 2, tokens[0] >= 1, iouFirst.count == 2 else {
            throw CheckpointError(file: archive.path,
                                  "unexpected mask decoder shapes: mask_tokens \(tokens), iou head \(iouFirst)")
        }
        return Self(transformer: transformer, numMultimaskOutputs: tokens[0] - 1, iouHeadDepth: iouDepth,
                    iouHeadHiddenDim: iouDepth == 1 ? transformer.embeddingDim : iouFirst[0])
    }

    /// Every parameter as (checkpoint key, shape) in state-dict order.
    public func parameterShapes(prefix: String = MaskDecoder.prefix) -> [(name: String, shape: [Int])] {
        let d = transformerDim, m = numMaskTokens
        var list = transformer.parameterShapes(prefix: prefix + "transformer.")
        list += [(prefix + "iou_token.weight", [1, d]), (prefix + "mask_tokens.weight", [m, d])]
        list += MaskDecoder.Upscaling.Shape(batch: 1, channels: d, height: 1, width: 1).parameterShapes
            .map { (prefix + "output_upscaling." + $0.name, $0.shape) }
        for i in 0..<m {
            list += Self.mlpParameters(prefix + "output_hypernetworks_mlps.\(i).", hypernetworkShape(rows: 1))
        }
        list += Self.mlpParameters(prefix + "iou_prediction_head.", iouHeadShape(rows: 1))
        return list
    }

    /// `<prefix>layers.i.weight` / `.bias` of an MLP.
    static func mlpParameters(_ prefix: String, _ shape: MLPBlock.Shape) -> [(name: String, shape: [Int])] {
        (0..<shape.layers).flatMap { i -> [(name: String, shape: [Int])] in
            let s = shape.parameterShapes(ofLayer: i)
            return [("\(prefix)layers.\(i).weight", s.weight), ("\(prefix)layers.\(i).bias", s.bias)]
        }
    }
}
