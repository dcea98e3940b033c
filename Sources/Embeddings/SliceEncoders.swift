import Config
import Foundation
import Tensors

/// The "encoder" of the UNet baseline: the augmented network input slice (3, S, S) itself, so the
/// UNet (a `SegmentationHead` on raw pixels) trains through the unchanged distributed trainer.
/// Cached "embeddings" are the clean slices.
public final class IdentitySliceEncoder: SliceEncoder {
    public let cacheKey: String
    public let embeddingShape: [Int]

    /// Slices of `channels` x `size` x `size`; `inputMode` only names the cache entries.
    public init(channels: Int = 3, size: Int, inputMode: InputMode) {
        cacheKey = "identity-\(inputMode)"
        embeddingShape = [channels, size, size]
    }

    public func encode(_ image: Tensor) throws -> Tensor {
        precondition(image.shape == embeddingShape, "identity encoder expects \(embeddingShape), got \(image.shape)")
        return image
    }
}

/// The slice encoder a config asks for: the identity for `head.kind = unet` (the UNet baseline
/// learns from pixels), the frozen SAM encoder otherwise.
public enum SliceEncoders {
    public static func make(_ config: ExperimentConfig) throws -> SliceEncoder {
        if config.head.kind == .unet {
            return IdentitySliceEncoder(size: config.data.slice_size, inputMode: config.data.input_mode)
        }
        return try SAMSliceEncoder.make(config)
    }

    /// What the encoder is, for logs (the SAM weights' provenance).
    public static func describe(_ encoder: SliceEncoder) -> String {
        if let sam = encoder as? SAMSliceEncoder { return sam.provenance }
        return "none: the model sees the raw slices (\(encoder.cacheKey))"
    }
}
