import TensorFiles
import SAM

/// Configuration of the AutoSAM decoder head (DESIGN §3.3): SAM's mask decoder with
/// `num_multimask_outputs = 1` (T = 2 mask tokens and hypernetwork MLPs) and per-class tokens:
/// `iou_token` (K, D), `mask_tokens` (T K, D), the IoU head predicting T values.
/// ref: AutoSAM models/sam_decoder.py @ 50a6ff4, `MaskDecoder.__init__`.
public struct AutoSAMHeadConfig: Codable, Equatable, Sendable {
    /// The SAM decoder pieces (transformer, IoU head) with `numMultimaskOutputs == 1`.
    public var decoder: MaskDecoderConfig
    /// K, the number of classes (background included).
    public var classes: Int

    public init(decoder: MaskDecoderConfig, classes: Int) {
        precondition(decoder.numMultimaskOutputs == 1, "the AutoSAM head uses num_multimask_outputs = 1")
        precondition(classes >= 2, "need at least two classes, got \(classes)")
        (self.decoder, self.classes) = (decoder, classes)
    }

    /// SAM's decoder for D = `embeddingDim` (the reference's build: depth 2, 8 heads, MLP 2048,
    /// IoU head depth 3 and width 256), for training without a SAM checkpoint.
    public static func sam(embeddingDim: Int = 256, classes: Int) -> Self {
        let transformer = TwoWayTransformerConfig(depth: 2, embeddingDim: embeddingDim, heads: 8, mlpDim: 2048)
        return Self(decoder: MaskDecoderConfig(transformer: transformer, numMultimaskOutputs: 1, iouHeadDepth: 3,
                                               iouHeadHiddenDim: 256),
                    classes: classes)
    }

    /// Everything visible in the `mask_decoder.*` shapes of a SAM checkpoint (D, depth, MLP dim,
    /// attention downsample rate, IoU head depth and width); `heads` leaves no trace (SAM: 8).
    public static func inferred(from archive: any TensorArchive, classes: Int, heads: Int = 8) throws -> Self {
        var decoder = try MaskDecoderConfig.inferred(from: archive, heads: heads)
        decoder.numMultimaskOutputs = 1
        return Self(decoder: decoder, classes: classes)
    }

    /// D, the transformer width (= the embedding channels).
    public var embeddingDim: Int { decoder.transformerDim }
    /// T, mask tokens per class (`num_multimask_outputs + 1`).
    public var masksPerClass: Int { decoder.numMaskTokens }
    /// C2 = D / 8, the channels of the upscaled embedding and of a hypernetwork output.
    public var upscaledChannels: Int { embeddingDim / 8 }

    /// Every tensor of the head as (state-dict key, shape) in the reference's order: the decoder's
    /// `mask_decoder.*` with K IoU tokens and T K mask tokens, then the positional matrix.
    public var parameterShapes: [(name: String, shape: [Int])] {
        let d = embeddingDim
        let decoderShapes = decoder.parameterShapes().map { entry -> (name: String, shape: [Int]) in
            switch entry.name {
            case AutoSAMHead.Key.iouToken: return (entry.name, [classes, d])
            case AutoSAMHead.Key.maskTokens: return (entry.name, [masksPerClass * classes, d])
            default: return entry
            }
        }
        return decoderShapes + [(AutoSAMHead.Key.gaussianMatrix, [2, d / 2])]
    }
}

extension AutoSAMHeadConfig {
    /// Multiply-adds of one forward pass on B embeddings of h x w (GEMMs and transposed
    /// convolutions; the backward pass costs about twice as many). In layer 0 the image's key and
    /// value projections are shared by its K rows (`TwoWayTransformer.Shape`).
    public func multiplyAdds(batch: Int, height: Int, width: Int) -> Int {
        let t = decoder.transformer, (d, di, m) = (t.embeddingDim, t.crossInternalDim, t.mlpDim)
        let rows = batch * classes, n = 1 + masksPerClass, p = height * width
        func tokenToImage(units: Int) -> Int { 2 * rows * n * d * di + 2 * units * p * d * di + 2 * rows * n * p * di }
        let imageToToken = 2 * rows * p * d * di + 2 * rows * n * d * di + 2 * rows * p * n * di
        var total = 0
        for l in 0..<t.depth {
            total += 4 * rows * n * d * d + 2 * rows * n * n * d                  // self-attention
            total += tokenToImage(units: l == 0 ? batch : rows) + 2 * rows * n * d * m + imageToToken
        }
        total += tokenToImage(units: rows)                                         // final attention
        let (c1, c2) = (d / 4, upscaledChannels)
        total += rows * p * d * c1 * 4 + rows * 4 * p * c1 * c2 * 4                 // output upscaling
        total += masksPerClass * rows * (2 * d * d + d * c2) + rows * 16 * p * c2  // hypernetworks, mask product
        return total
    }
}
