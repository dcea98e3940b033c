import TensorFiles
import Config
import Foundation
import SAM
import Tensors

/// The frozen SAM image encoder behind the trainer's `SliceEncoder`: preprocessing (DESIGN §3.1
/// `reference` or `sam` mode) then `ImageEncoder.forward`, one workspace reused across calls.
public final class SAMSliceEncoder: SliceEncoder {
    public let encoder: ImageEncoder
    public let mode: Preprocessing.Mode
    public let cacheKey: String
    /// What the weights are, for logs: the checkpoint path and checksum or "random <preset>".
    public let provenance: String
    private let workspace: ImageEncoderWorkspace

    /// A small random-weight ViT for demos and tests on 2 cores: 256 px input, 16 x 16 grid.
    public static let demoSmall = EncoderConfig(imageSize: 256, patchSize: 16, embedDim: 96, depth: 4, heads: 3,
                                                windowSize: 8, globalBlocks: [1, 3], outChannels: 64)

    public init(encoder: ImageEncoder, mode: Preprocessing.Mode, cacheKey: String, provenance: String) {
        self.encoder = encoder
        self.mode = mode
        self.cacheKey = cacheKey
        let precision = encoder.precision == .fp32 ? "" : "; \(encoder.precision.rawValue) matrix products"
        self.provenance = provenance + precision
        self.workspace = ImageEncoderWorkspace(config: encoder.config, batch: 1)
    }

    /// From the config: the checkpoint when given (checked against the preset), otherwise the
    /// preset with seeded random weights, clearly labelled as such; at `encoder.precision` (bf16
    /// throws a `ConfigError` naming the CPU's instruction set where it cannot run).
    public static func make(_ config: ExperimentConfig) throws -> SAMSliceEncoder {
        let mode = Preprocessing.Mode(rawValue: config.data.input_mode.rawValue)!
        let precision = EncoderPrecision(rawValue: config.encoder.precision.rawValue)!
        let suffix = precision == .fp32 ? "" : "-\(precision.rawValue)"   // bf16 embeddings are cached apart
        func encoder(_ weights: ImageEncoderWeights) throws -> ImageEncoder {
            do {
                return try ImageEncoder(weights: weights, precision: precision)
            } catch let error as EncoderPrecisionError {
                throw ConfigError(source: "encoder.precision", message: error.description)
            }
        }
        let preset = config.encoder.preset == .demoSmall ? demoSmall
            : config.encoder.preset == .auto ? nil : EncoderConfig.preset(named: config.encoder.preset.rawValue)
        if config.encoder.checkpoint.isEmpty {
            guard let preset else {
                throw ConfigError(source: "config", message: "unknown encoder.preset '\(config.encoder.preset)'")
            }
            let weights = try ImageEncoderWeights.random(config: preset, seed: UInt64(config.encoder.random_seed))
            let name = "random-\(config.encoder.preset)-seed\(config.encoder.random_seed)" + suffix
            return SAMSliceEncoder(encoder: try encoder(weights), mode: mode,
                                   cacheKey: try cacheKey(weights: name, config: preset, mode: mode),
                                   provenance: "RANDOM weights (\(config.encoder.preset), "
                                   + "seed \(config.encoder.random_seed)): a demo, not SAM")
        }
        let url = URL(fileURLWithPath: config.encoder.checkpoint)
        let archive = try TensorArchives.open(url)
        let loaded = try encoder(ImageEncoderWeights.load(from: archive, preset: preset))
        let digest = try SHA256.hexDigest(ofFile: url)
        return SAMSliceEncoder(encoder: loaded, mode: mode,
                               cacheKey: try cacheKey(weights: "sam-\(digest.prefix(16))" + suffix,
                                                      config: loaded.config, mode: mode),
                               provenance: "\(url.path) (sha256 \(digest.prefix(16))...)")
    }

    /// The `cacheKey` of the weights named `weights` (checkpoint checksum, or random preset and
    /// seed) in the architecture `config` fed by `mode`: the name, the mode and a digest of the
    /// full encoder configuration (input size included). The mode's other parameters are the
    /// network input's size, in the cache folder key, and code constants.
    public static func cacheKey(weights: String, config: EncoderConfig, mode: Preprocessing.Mode) throws -> String {
        "\(weights)-\(mode.rawValue)-\(try EmbeddingCache.digest(of: config))"
    }

    public var embeddingShape: [Int] { [encoder.config.outChannels, encoder.config.gridSize, encoder.config.gridSize] }

    public func encode(_ image: Tensor) throws -> Tensor {
        let size = encoder.config.imageSize
        let input: Tensor
        switch mode {
        case .reference:
            input = Preprocessing.reference(image, imageSize: size, sliceSize: image.shape[1])
        case .sam:
            input = Preprocessing.sam(image: Self.rgbBytes(image), height: image.shape[1], width: image.shape[2],
                                      imageSize: size).image
        }
        let out = encoder.forward(input.reshaped([1] + input.shape), workspace: workspace)
        return out.reshaped(Array(out.shape.dropFirst()))
    }

    /// A (C, H, W) slice min-max mapped to 0-255 RGB bytes (HWC), as an 8-bit export would be.
    public static func rgbBytes(_ image: Tensor) -> [UInt8] {
        let (c, h, w) = (image.shape[0], image.shape[1], image.shape[2])
        let low = image.data.min() ?? 0, range = max((image.data.max() ?? 0) - low, 1e-12)
        var out = [UInt8](repeating: 0, count: h * w * 3)
        for y in 0..<h {
            for x in 0..<w {
                for ch in 0..<3 {
                    let v = image.data[((c == 3 ? ch : 0) * h + y) * w + x]
                    out[(y * w + x) * 3 + ch] = UInt8(max(0, min(255, ((v - low) / range * 255).rounded())))
                }
            }
        }
        return out
    }
}
