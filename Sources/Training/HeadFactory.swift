import TensorFiles
import Config
import Embeddings
import Foundation
import Heads
import Runs

/// Code that works for any concrete head type (the trainer and predictor are generic).
public protocol HeadVisitor {
    associatedtype Result
    func visit<H: SegmentationHead>(_ head: H) throws -> Result
}

/// A head chosen by the config, to be opened with a `HeadVisitor`.
public struct ConfiguredHead {
    let open: (any HeadVisitorBox) throws -> Any

    public func visit<V: HeadVisitor>(_ visitor: V) throws -> V.Result {
        try open(VisitorBox(visitor)) as! V.Result
    }
}

public protocol HeadVisitorBox {
    func call<H: SegmentationHead>(_ head: H) throws -> Any
}

struct VisitorBox<V: HeadVisitor>: HeadVisitorBox {
    let visitor: V
    init(_ v: V) { visitor = v }
    func call<H: SegmentationHead>(_ head: H) throws -> Any { try visitor.visit(head) }
}

/// Builds the head named by `head.kind` for embeddings of `inputChannels` channels (for `unet`,
/// the image channels of `IdentitySliceEncoder`).
public enum HeadFactory {
    public static func make(_ config: ExperimentConfig, inputChannels: Int) throws -> ConfiguredHead {
        let k = config.data.classes
        switch config.head.kind {
        case .cnn:
            let head = CNNHead(inputChannels: inputChannels, classes: k, depth: config.head.depth,
                               topChannel: config.head.channels)
            return ConfiguredHead { try $0.call(head) }
        case .unet:
            let head = UNet(inputChannels: inputChannels, classes: k, width: config.head.channels,
                            levels: config.head.depth)
            return ConfiguredHead { try $0.call(head) }
        case .autosam:
            // The decoder's shape is read off the SAM checkpoint when one is given, else SAM's
            // defaults for these channels; `AutoSAMHead.initialiseFromSAM` copies SAM's weights.
            let checkpoint = config.encoder.checkpoint
            let decoder = checkpoint.isEmpty ? AutoSAMHeadConfig.sam(embeddingDim: inputChannels, classes: k)
                : try AutoSAMHeadConfig.inferred(from: TensorArchives.open(URL(fileURLWithPath: checkpoint)),
                                                 classes: k, heads: config.encoder.decoder_heads)
            guard decoder.embeddingDim == inputChannels else {
                throw ConfigError(source: checkpoint, message: "the SAM mask decoder is \(decoder.embeddingDim) wide "
                                  + "but the encoder gives \(inputChannels) channels")
            }
            let head = AutoSAMHead(config: decoder)
            return ConfiguredHead { try $0.call(head) }
        case .linear:
            let head = LinearHead(inputChannels: inputChannels, classes: k)
            return ConfiguredHead { try $0.call(head) }
        case .samBox:
            throw ConfigError(source: "config",
                              message: "head.kind sam_box is a zero-shot baseline with no trainable head")
        }
    }
}
