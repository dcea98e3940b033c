/// Why a SAM checkpoint could not be turned into a model. Every case names the file and lists
/// all problems found, not just the first.
public enum SAMLoadError: Error, Equatable, CustomStringConvertible {
    /// One tensor whose shape differs from what the configuration requires.
    public struct ShapeMismatch: Equatable, Sendable, CustomStringConvertible {
        public let key: String
        public let expected: [Int]
        public let found: [Int]

        public init(key: String, expected: [Int], found: [Int]) {
            (self.key, self.expected, self.found) = (key, expected, found)
        }

        public var description: String { "\(key): expected \(expected), found \(found)" }
    }

    /// The configuration cannot be read off the checkpoint's shapes (for example: not a SAM
    /// checkpoint, no `image_encoder.*` keys, inconsistent relative-position tables).
    case cannotInferConfig(file: String, reasons: [String])
    /// The inferred configuration differs from the preset the caller asked for.
    case presetMismatch(file: String, preset: String, differences: [String])
    /// The configuration itself is invalid (`EncoderConfig.problems`).
    case invalidConfig(problems: [String])
    /// Keys under the model's prefix do not match its key table: missing keys, keys the model does
    /// not use, tensors with the wrong shape.
    case keyMismatch(file: String, missing: [String], unused: [String], misshaped: [ShapeMismatch])
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
        case let .keyMismatch(file, missing, unused, misshaped):
            var parts: [String] = []
            if !missing.isEmpty { parts.append("missing \(missing.count): " + missing.joined(separator: ", ")) }
            if !unused.isEmpty { parts.append("unused \(unused.count): " + unused.joined(separator: ", ")) }
            if !misshaped.isEmpty {
                parts.append("wrong shape \(misshaped.count): " + misshaped.map(\.description).joined(separator: ", "))
            }
            return "\(file): checkpoint keys do not match the model: " + parts.joined(separator: "; ")
        case let .unreadableTensor(file, key, reason):
            return "\(file): cannot read tensor '\(key)': \(reason)"
        }
    }
}
