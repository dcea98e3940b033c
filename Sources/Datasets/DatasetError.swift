/// An input file or folder that cannot be used: which file, what kind of problem, and the details
/// (what was expected, what was found). Every reader and loader in this module throws this type.
public struct DatasetError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The kinds of bad input a caller (or a test) may want to tell apart.
    public enum Kind: String, Sendable {
        /// The file ends before its header or data does.
        case truncated
        /// The bytes are not a valid file of the expected format (bad magic, bad checksum, ...).
        case corrupt
        /// A valid file using a feature this reader does not support (datatype, dimensions, ...).
        case unsupported
        /// Image and label (or slices of one volume) differ in shape.
        case shapeMismatch
        /// Image and label differ in voxel spacing.
        case spacingMismatch
        /// A label value outside 0..<classes.
        case labelOutOfRange
        /// A NaN or infinite voxel.
        case nonFinite
        /// A file the layout requires is absent (for example a label volume).
        case missingFile
        /// A folder without any usable volume.
        case emptyFolder
        /// A stored split that does not match the dataset or the requested seed.
        case inconsistent
        /// The operating system refused a read or write.
        case io
    }

    public let file: String
    public let kind: Kind
    public let message: String

    public init(file: String, _ kind: Kind, _ message: String) {
        self.file = file
        self.kind = kind
        self.message = message
    }

    public var description: String { "\(file): \(kind.words): \(message)" }
}

extension DatasetError.Kind {
    /// The kind as a reader would say it ("missing file", not `missingFile`).
    var words: String {
        switch self {
        case .shapeMismatch: return "shape mismatch"
        case .spacingMismatch: return "spacing mismatch"
        case .labelOutOfRange: return "label out of range"
        case .nonFinite: return "non-finite value"
        case .missingFile: return "missing file"
        case .emptyFolder: return "empty folder"
        case .io: return "I/O error"
        case .truncated, .corrupt, .unsupported, .inconsistent: return rawValue
        }
    }
}
