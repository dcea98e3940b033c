import Foundation
import Tensors

/// A PyTorch checkpoint written by `torch.save(state_dict, path)` (torch >= 1.6 ZIP format), read
/// without Python: the ZIP is memory-mapped, `<prefix>/data.pkl` goes through the restricted
/// `Unpickler`, and every tensor is a checked view of a stored entry `<prefix>/data/<key>`.
/// Tensors are converted (and made contiguous) only when asked for.
///
/// Layout: see the fixtures README, "`.pth` layout"; ref: pytorch `torch/serialization.py`.
public final class PthCheckpoint: TensorArchive, @unchecked Sendable {
    public let path: String
    public let archive: ZipArchive
    /// The folder all entries live in, e.g. `tiny_sam/` or `archive/`.
    public let prefix: String
    /// State-dict keys in file (insertion) order.
    public let names: [String]
    /// How each tensor views its storage.
    public let layouts: [String: PthTensorLayout]
    /// Each storage's bytes inside the mapped file, by storage key.
    private let storageBytes: [String: UnsafeRawBufferPointer]
    /// The mapped file (its pages are released after each conversion).
    private let file: MappedFile

    public convenience init(contentsOf url: URL) throws {
        try self.init(file: MappedFile(url: url))
    }

    public init(file: MappedFile, limits: PickleLimits = PickleLimits()) throws {
        path = file.path
        self.file = file
        archive = try ZipArchive(file: file)
        let pickles = archive.entries.filter { $0.name == "data.pkl" || $0.name.hasSuffix("/data.pkl") }
        guard pickles.count == 1, let pickle = pickles.first else {
            throw CheckpointError(file: path, pickles.isEmpty
                ? "ZIP archive has no data.pkl entry; not a torch.save checkpoint"
                : "ZIP archive has \(pickles.count) data.pkl entries (\(pickles.map(\.name).joined(separator: ", ")))")
        }
        prefix = String(pickle.name.dropLast("data.pkl".count))
        try PthCheckpoint.checkByteOrder(archive, prefix: prefix)
        var unpickler = Unpickler(bytes: try archive.contents(of: pickle), file: "\(path): \(pickle.name)",
                                  limits: limits)
        let tensors = try unpickler.load { try PthCheckpoint.stateDict($0, path: file.path) }
        names = tensors.map(\.key)
        layouts = Dictionary(uniqueKeysWithValues: tensors.map { ($0.key, $0.layout) })   // PickleDict keys are unique
        var storageBytes: [String: UnsafeRawBufferPointer] = [:]
        for (key, layout) in tensors where storageBytes[layout.storage.key] == nil {
            storageBytes[layout.storage.key] = try PthCheckpoint.storage(layout.storage, of: key, in: archive,
                                                                         prefix: prefix)
        }
        self.storageBytes = storageBytes
    }

    public func layout(_ name: String) throws -> PthTensorLayout {
        guard let layout = layouts[name] else { throw CheckpointError(file: path, "no tensor named '\(name)'") }
        return layout
    }

    public func info(_ name: String) throws -> TensorInfo {
        let l = try layout(name)
        return TensorInfo(name: name, dtype: l.storage.dtype, shape: l.shape)
    }

    /// The stored bytes a tensor views (checked against its layout when the checkpoint was opened).
    private func storage(of name: String, _ layout: PthTensorLayout) throws -> UnsafeRawBufferPointer {
        guard let bytes = storageBytes[layout.storage.key] else {
            throw CheckpointError(file: path, "tensor '\(name)': storage '\(layout.storage.key)' was not read")
        }
        return bytes
    }

    /// Any tensor converted to float32 and made contiguous (a 0-dim tensor has shape `[]`). The
    /// storage's mapped pages are released afterwards, so loading a checkpoint tensor by tensor
    /// holds the float32 copies plus one storage, not the whole file as well.
    public func tensor(_ name: String) throws -> Tensor {
        let l = try layout(name)
        let bytes = try storage(of: name, l)
        let data = StridedConversion.floats(bytes, dtype: l.storage.dtype, shape: l.shape, strides: l.strides,
                                            offset: l.offset)
        file.releasePages(of: bytes)
        return Tensor(shape: l.shape, data: data)
    }

    /// Values of an integer or bool tensor, contiguous in row-major order.
    public func integers(_ name: String) throws -> [Int] {
        let l = try layout(name)
        guard let values = StridedConversion.integers(try storage(of: name, l), dtype: l.storage.dtype,
                                                      shape: l.shape, strides: l.strides, offset: l.offset) else {
            throw CheckpointError(file: path, "tensor '\(name)' is \(l.storage.dtype.rawValue), "
                                              + "expected an integer dtype")
        }
        return values
    }

    /// Every tensor in state-dict order, as float32.
    public func loadAll() throws -> [(key: String, dtype: DType, shape: [Int], tensor: Tensor)] {
        try names.map { name in
            let l = try layout(name)
            return (name, l.storage.dtype, l.shape, try tensor(name))
        }
    }

    /// `byteorder` holds `little` (absent in older checkpoints, which are little-endian).
    static func checkByteOrder(_ archive: ZipArchive, prefix: String) throws {
        guard let entry = archive.entry(prefix + "byteorder") else { return }
        let text = String(decoding: try archive.contents(of: entry), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        guard text == "little" else {
            throw CheckpointError(file: archive.path, text == "big"
                ? "checkpoint was saved on a big-endian machine (byteorder 'big'); "
                  + "only little-endian checkpoints are supported"
                : "unknown byteorder '\(text.prefix(32))' in \(entry.name)")
        }
    }

    /// The pickle's top level must be a dict from string keys to tensors (a flat state dict).
    static func stateDict(_ value: PickleValue, path: String) throws -> [(key: String, layout: PthTensorLayout)] {
        guard case .dict(let dict) = value else {
            throw CheckpointError(file: path, "data.pkl holds \(value.kind), "
                                              + "expected a state dict (an OrderedDict of tensors)")
        }
        return try dict.items.map { item in
            guard case .string(let key) = item.key else {
                throw CheckpointError(file: path, "state dict key \(item.key.kind) is not a string")
            }
            guard case .tensor(let layout) = item.value else {
                throw CheckpointError(file: path, "state dict entry '\(key)' is \(item.value.kind), "
                                                  + "not a tensor (expected a flat state dict)")
            }
            return (key, layout)
        }
    }

    /// The stored bytes of `data/<key>`, which must hold exactly `numel` elements.
    static func storage(_ storage: PthStorage, of tensor: String, in archive: ZipArchive, prefix: String) throws
        -> UnsafeRawBufferPointer {
        let name = prefix + "data/" + storage.key
        guard let entry = archive.entry(name) else {
            throw CheckpointError(file: archive.path, "storage '\(storage.key)' of tensor '\(tensor)' is missing: "
                                                      + "no ZIP entry '\(name)'")
        }
        let bytes = try archive.contents(of: entry)
        let (needed, overflow) = storage.numel.multipliedReportingOverflow(by: storage.dtype.byteSize)
        guard !overflow, needed == bytes.count else {
            throw CheckpointError(file: archive.path, "storage '\(storage.key)' of tensor '\(tensor)' claims "
                                                      + "\(storage.numel) \(storage.dtype.rawValue) "
                                                      + "elements but '\(name)' has \(bytes.count) bytes")
        }
        return bytes
    }
}
