import TensorFiles
import Tensors

extension ImageEncoderWeights {
    /// Loads the encoder from a SAM checkpoint (`.pth` or `.safetensors`): the configuration is
    /// inferred from the tensor shapes (`EncoderConfig.infer(from:)`) and, when `preset` is given,
    /// must equal it (`SAMLoadError.presetMismatch` lists the differences).
    public static func load(from archive: any TensorArchive, preset: EncoderConfig? = nil) throws
        -> ImageEncoderWeights {
        let config = try EncoderConfig.infer(from: archive)
        if let preset {
            let differences = config.check(against: preset)
            guard differences.isEmpty else {
                throw SAMLoadError.presetMismatch(file: archive.path,
                                                  preset: preset.presetName ?? "the requested configuration",
                                                  differences: differences)
            }
        }
        return try load(from: archive, config: config)
    }

    /// Loads the encoder with a known configuration. Every `image_encoder.*` key of the archive must
    /// be in the key table and every table key in the archive with the table's shape; otherwise a
    /// `LoadError` lists all missing, unused and mis-shaped keys.
    public static func load(from archive: any TensorArchive, config: EncoderConfig) throws -> ImageEncoderWeights {
        guard config.problems.isEmpty else { throw SAMLoadError.invalidConfig(problems: config.problems) }
        try verifyKeys(of: archive, against: ImageEncoderTable(config: config))
        return try ImageEncoderWeights(config: config) { slot, destination in
            let tensor: Tensor
            do { tensor = try archive.finiteTensor(slot.key) } catch let error as NonFiniteTensorError {
                throw error
            } catch {
                throw SAMLoadError.unreadableTensor(file: archive.path, key: slot.key, reason: "\(error)")
            }
            guard tensor.count == slot.count else {
                throw SAMLoadError.unreadableTensor(file: archive.path, key: slot.key,
                                                    reason: "\(tensor.count) elements, expected \(slot.count)")
            }
            tensor.withPointer { destination.update(from: $0, count: slot.count) }
        }
    }

    /// Compares the archive's keys under the table's prefix with the table; throws a `LoadError`
    /// naming the file that lists every missing, unused and mis-shaped key.
    static func verifyKeys(of archive: any TensorArchive, against table: ImageEncoderTable) throws {
        let expected = table.slots.map { (name: $0.key, shape: $0.shape) }
        let report = try archive.loadReport(expected: expected, scope: EncoderConfig.checkpointPrefix)
        try report.check(source: archive.path,
                         hint: "the image_encoder.* keys must be those of SAM's ImageEncoderViT of this configuration")
    }

    /// Random weights for `config` with PyTorch's default initialisation scales (Linear / Conv2d
    /// U(-1/sqrt(fan_in), 1/sqrt(fan_in)), LayerNorm weight 1 and bias 0, position embedding and
    /// relative-position tables N(0, 0.02^2): zero in a fresh SAM, small random values here so that
    /// benchmarks exercise realistic numbers), reproducible from `seed` (each slot draws from its
    /// own counter-based substream). For benchmarks and demos; throws only for an invalid config.
    public static func random(config: EncoderConfig, seed: UInt64) throws -> ImageEncoderWeights {
        let rng = CounterRNG(seed: seed)
        var index: UInt64 = 0
        return try ImageEncoderWeights(config: config) { slot, destination in
            let stream = rng.substream(index)
            index += 1
            switch slot.initialization {
            case let .uniform(bound):
                for i in 0..<slot.count { destination[i] = stream.uniform(UInt64(i), -bound, bound) }
            case let .normal(mean, std):
                for i in 0..<slot.count { destination[i] = mean + std * stream.normal(UInt64(i)) }
            case let .constant(value):
                destination.update(repeating: value, count: slot.count)
            }
        }
    }
}
