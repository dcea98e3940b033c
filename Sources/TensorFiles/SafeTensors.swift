import Foundation
import Tensors

/// Element types that appear in safetensors files.
public enum DType: String, Sendable, CaseIterable {
    case f32 = "F32", f64 = "F64", f16 = "F16", bf16 = "BF16"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u8 = "U8", bool = "BOOL"

    public var byteSize: Int {
        switch self {
        case .f64, .i64: return 8
        case .f32, .i32: return 4
        case .f16, .bf16, .i16: return 2
        case .i8, .u8, .bool: return 1
        }
    }
}

/// A safetensors file held in memory: 8-byte little-endian header length, a JSON header
/// `{name: {dtype, shape, data_offsets}}` (plus optional `__metadata__`), then raw data.
public struct SafeTensorsFile {
    public struct Entry: Sendable {
        public let dtype: DType
        public let shape: [Int]
        public let range: Range<Int>   // byte range inside `payload`
        public var count: Int { shape.reduce(1, *) }
    }

    public let path: String
    public let entries: [String: Entry]
    public let metadata: [String: String]
    /// Tensor names in file order (by data offset).
    public let names: [String]
    private let payload: Data
    /// The mapped file when read from one (its pages are released after each conversion).
    private var mapped: MappedFile? = nil
    /// Where the payload starts in the file.
    private var payloadOffset = 0

    /// Reads `url`, which must be a regular file; it is memory-mapped, not copied.
    public init(contentsOf url: URL) throws {
        let file = try MappedFile(url: url)
        try self.init(bytes: file.data, path: url.path)
        mapped = file
    }

    /// Parses a whole file's bytes. Every tensor's shape must fit its data offsets (products
    /// checked for overflow) and every offset the payload, so reading a tensor never leaves the file.
    public init(bytes: Data, path: String) throws {
        self.path = path
        guard bytes.count >= 8 else {
            throw CheckpointError(file: path, "too short for a safetensors header (\(bytes.count) bytes)")
        }
        let headerLength = bytes.prefix(8).withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLength <= UInt64(bytes.count - 8), headerLength < 100_000_000 else {
            throw CheckpointError(file: path, "header length \(headerLength) exceeds file size \(bytes.count)")
        }
        let headerStart = bytes.startIndex + 8
        let headerData = bytes[headerStart ..< headerStart + Int(headerLength)]
        guard let json = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any] else {
            throw CheckpointError(file: path, "header is not a JSON object")
        }
        let payloadStart = headerStart + Int(headerLength)
        payloadOffset = 8 + Int(headerLength)
        payload = bytes[payloadStart...]
        var entries: [String: Entry] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in json {
            if name == "__metadata__" {
                for (k, v) in (value as? [String: Any]) ?? [:] { metadata[k] = "\(v)" }
                continue
            }
            entries[name] = try SafeTensorsFile.entry(name, value, payloadCount: payload.count, path: path)
        }
        self.entries = entries
        self.metadata = metadata
        self.names = entries.sorted {
            ($0.value.range.lowerBound, $0.key) < ($1.value.range.lowerBound, $1.key)
        }.map(\.key)
    }

    /// One header entry `{dtype, shape, data_offsets}`, checked field by field: a known dtype,
    /// non-negative integer sizes, offsets inside the `payloadCount`-byte payload, and a shape
    /// whose byte count (overflow-checked) equals the offsets' range.
    private static func entry(_ name: String, _ value: Any, payloadCount: Int, path: String) throws -> Entry {
        guard let info = value as? [String: Any] else {
            throw CheckpointError(file: path, "tensor '\(name)': header entry is not a JSON object")
        }
        guard let dtypeName = info["dtype"] as? String, let dtype = DType(rawValue: dtypeName) else {
            throw CheckpointError(file: path, "tensor '\(name)': unsupported dtype \(describe(info["dtype"]))")
        }
        guard let shape = info["shape"] as? [Int], shape.allSatisfy({ $0 >= 0 }) else {
            throw CheckpointError(file: path, "tensor '\(name)': shape \(describe(info["shape"])) "
                                              + "is not a list of non-negative integers")
        }
        guard let offsets = info["data_offsets"] as? [Int], offsets.count == 2,
              offsets[0] >= 0, offsets[0] <= offsets[1], offsets[1] <= payloadCount else {
            throw CheckpointError(file: path, "tensor '\(name)': data_offsets \(describe(info["data_offsets"])) "
                                  + "are not [begin, end] inside the \(payloadCount)-byte payload")
        }
        guard let needed = byteCount(shape, dtype) else {
            throw CheckpointError(file: path, "tensor '\(name)': shape \(shape) of \(dtypeName) overflows")
        }
        guard needed == offsets[1] - offsets[0] else {
            throw CheckpointError(file: path, "tensor '\(name)': shape \(shape) of \(dtypeName) needs \(needed) bytes, "
                                  + "data_offsets \(offsets) hold \(offsets[1] - offsets[0])")
        }
        return Entry(dtype: dtype, shape: shape, range: offsets[0] ..< offsets[1])
    }

    /// A header value as found, shortened, for errors.
    private static func describe(_ value: Any?) -> String {
        value.map { String(String(describing: $0).prefix(128)) } ?? "(missing)"
    }

    /// Bytes needed by `shape` elements of `dtype`, or nil on overflow.
    static func byteCount(_ shape: [Int], _ dtype: DType) -> Int? {
        var total = dtype.byteSize
        for n in shape {
            let (product, overflow) = total.multipliedReportingOverflow(by: n)
            if overflow { return nil }
            total = product
        }
        return total
    }

    public func entry(_ name: String) throws -> Entry {
        guard let e = entries[name] else { throw CheckpointError(file: path, "no tensor named '\(name)'") }
        return e
    }

    public func contains(_ name: String) -> Bool { entries[name] != nil }

    /// Raw bytes of a tensor.
    public func bytes(_ name: String) throws -> Data {
        let e = try entry(name)
        let start = payload.startIndex + e.range.lowerBound
        return payload[start ..< start + e.range.count]
    }

    /// Any floating or integer tensor converted to float32.
    public func tensor(_ name: String) throws -> Tensor {
        let e = try entry(name)
        let raw = try bytes(name)
        let tensor = Tensor(shape: e.shape, data: DTypeConversion.floats(from: raw, dtype: e.dtype, count: e.count))
        if let mapped {       // loading tensor by tensor keeps one tensor's file pages resident, not the file
            mapped.releasePages(payloadOffset + e.range.lowerBound ..< payloadOffset + e.range.upperBound)
        }
        return tensor
    }

    /// Integer tensor values (I64, I32, I16, I8, U8, BOOL).
    public func integers(_ name: String) throws -> [Int] {
        let e = try entry(name)
        let raw = try bytes(name)
        guard let values = DTypeConversion.integers(from: raw, dtype: e.dtype, count: e.count) else {
            throw CheckpointError(file: path, "tensor '\(name)' is \(e.dtype.rawValue), expected an integer dtype")
        }
        return values
    }

    /// Float64 values (F64 exactly, other floats widened).
    public func doubles(_ name: String) throws -> [Double] {
        let e = try entry(name)
        let raw = try bytes(name)
        if e.dtype == .f64 {
            return raw.withUnsafeBytes { buf in
                (0..<e.count).map {
                    Double(bitPattern: UInt64(littleEndian: buf.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self)))
                }
            }
        }
        return DTypeConversion.floats(from: raw, dtype: e.dtype, count: e.count).map(Double.init)
    }

    /// Writes tensors (float32) and metadata as a safetensors file, atomically (temporary file,
    /// then rename), so a crash never leaves a half-written file under `url`.
    public static func write(_ tensors: [(String, Tensor)], metadata: [String: String] = [:], to url: URL) throws {
        try write(tensors.map { ($0.0, DType.f32, $0.1.shape, DTypeConversion.bytes(of: $0.1.data)) },
                  metadata: metadata, to: url)
    }

    /// Writes raw tensors of any dtype.
    public static func write(_ tensors: [(name: String, dtype: DType, shape: [Int], bytes: Data)],
                             metadata: [String: String] = [:], to url: URL) throws {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for t in tensors {
            precondition(t.shape.reduce(1, *) * t.dtype.byteSize == t.bytes.count,
                         "tensor \(t.name): byte count mismatch")
            header[t.name] = ["dtype": t.dtype.rawValue, "shape": t.shape,
                              "data_offsets": [offset, offset + t.bytes.count]] as [String: Any]
            offset += t.bytes.count
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data()
        out.reserveCapacity(8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        for t in tensors { out.append(t.bytes) }
        try AtomicFile.write(out, to: url)
    }
}
