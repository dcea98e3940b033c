import Foundation
import Tensors

/// Name, element type and shape of one tensor in a file.
public struct TensorInfo: Sendable, Equatable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    public var count: Int { shape.reduce(1, *) }

    public init(name: String, dtype: DType, shape: [Int]) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
    }
}

/// A file of named tensors (`.pth` or `.safetensors`): list them, then load each lazily by name.
public protocol TensorArchive {
    var path: String { get }
    /// Tensor names in file order (state-dict order for `.pth`, data order for safetensors).
    var names: [String] { get }
    func info(_ name: String) throws -> TensorInfo
    /// The tensor converted to float32.
    func tensor(_ name: String) throws -> Tensor
    /// Values of an integer or bool tensor.
    func integers(_ name: String) throws -> [Int]
}

extension TensorArchive {
    /// Every tensor's info in file order.
    public func infos() throws -> [TensorInfo] { try names.map(info) }

    /// `tensor(name)` for model weights, which must be finite: a NaN or Inf weight would make
    /// every output NaN and train to NaN silently. Throws `NonFiniteTensorError` naming the file,
    /// the tensor and its first bad element.
    public func finiteTensor(_ name: String) throws -> Tensor {
        let t = try tensor(name)
        if let i = t.data.firstIndex(where: { !$0.isFinite }) {
            throw NonFiniteTensorError(file: path, tensor: name, index: i, value: t.data[i],
                                       count: t.data.reduce(0) { $1.isFinite ? $0 : $0 + 1 })
        }
        return t
    }
}

/// A weight tensor holding NaN or Inf values.
public struct NonFiniteTensorError: Error, CustomStringConvertible {
    public let file: String
    public let tensor: String
    /// Flat index and value of the first non-finite element, and how many there are.
    public let index: Int
    public let value: Float
    public let count: Int
    public var description: String {
        "\(file): tensor \(tensor) has \(count) non-finite value(s) "
        + "(element \(index) is \(value)); the weights are damaged"
    }
}

extension SafeTensorsFile: TensorArchive {
    public func info(_ name: String) throws -> TensorInfo {
        let e = try entry(name)
        return TensorInfo(name: name, dtype: e.dtype, shape: e.shape)
    }
}

/// The two checkpoint formats, told apart by content rather than file name.
public enum TensorArchiveFormat: String, Sendable {
    case pth, safetensors

    /// Detects the format from the first bytes: a ZIP local header or end record (`PK\3\4`,
    /// `PK\5\6`) is a torch `.pth`; an 8-byte length followed by `{` is safetensors (checked
    /// before the legacy-pickle test, since a length such as 640 also starts with `80 02`).
    public static func detect(_ bytes: UnsafeRawBufferPointer, path: String) throws -> TensorArchiveFormat {
        let head = Array(bytes.prefix(16))
        if head.count >= 4, head[0] == 0x50, head[1] == 0x4B,
           (head[2], head[3]) == (3, 4) || (head[2], head[3]) == (5, 6) {
            return .pth
        }
        if head.count >= 9, head[8] == UInt8(ascii: "{") {
            let length = bytes.loadUnaligned(as: UInt64.self).littleEndian
            if length <= UInt64(bytes.count - 8) { return .safetensors }
        }
        if head.count >= 2, head[0] == 0x80, head[1] <= 5 {
            throw CheckpointError(file: path, "a bare pickle: legacy (pre-1.6) torch.save format, "
                                              + "which is not supported; re-save it with a recent torch")
        }
        let shown = head.prefix(8).map { hex($0) }.joined(separator: " ")
        throw CheckpointError(file: path, "not a checkpoint: neither a ZIP archive "
                                          + "(.pth) nor a safetensors file (first bytes \(shown))")
    }
}

public enum TensorArchives {
    /// Opens a `.pth` or `.safetensors` file, chosen by content; the file is memory-mapped.
    public static func open(_ url: URL) throws -> any TensorArchive {
        let file = try MappedFile(url: url)
        switch try TensorArchiveFormat.detect(file.bytes, path: file.path) {
        case .pth: return try PthCheckpoint(file: file)
        case .safetensors: return try SafeTensorsFile(bytes: file.data, path: file.path)
        }
    }
}
