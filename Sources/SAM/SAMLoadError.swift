/// Why a SAM checkpoint could not be turned into a model. Every case names the file and lists
/// all problems found, not just the first. Keys that do not match the model's key table are a
/// `LoadError` (Tensors), like every other loader's.
public enum SAMLoadError: Error, Equatable, CustomStringConvertible {
    /// The configuration cannot be read off the checkpoint's shapes (for example: not a SAM
    /// checkpoint, no `image_encoder.*` keys, inconsistent relative-position tables).
    case cannotInferConfig(file: String, reasons: [String])
    /// The inferred configuration differs from the preset the caller asked for.
    case presetMismatch(file: String, preset: String, differences: [String])
    /// The configuration itself is invalid (`EncoderConfig.problems`).
    case invalidConfig(problems: [String])
    /// The archive failed to produce a tensor (damaged file, unsupported dtype).
    case unreadableTensor(file: String, key: String, reason: String)

    public var description: String {
        switch self {
        case let .cannotInferConfig(file, reasons):
            return "\(file): cannot infer the SAM image encoder configuration: " + reasons.joined(separator: "; ")
        case let .presetMismatch(file, preset, differences):
            return "\(file): the checkpoint is not \(preset): " + differences.joined(separator: ", ")
        case let .invalidConfig(problems):
            return "invalid encoder configuration: " + problems.joined(separator: "; ")
        case let .unreadableTensor(file, key, reason):
            return "\(file): cannot read tensor '\(key)': \(reason)"
        }
    }
}
