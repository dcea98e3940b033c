import TensorFiles
import Config
import Foundation
import Tensors

/// On-disk cache of frozen-encoder embeddings (DESIGN §5), one file per entry:
///
///     <root>/<folder key>/<entry key>.<precision>.emb
///     "ASEMB1\0\0" | u32 dtype (0 fp32, 1 fp16) | u32 rank | rank x u64 shape | u64 payload bytes
///     | u64 FNV-1a of payload | payload
///
/// `EmbeddingProvider` makes the folder and entry keys and says exactly what they cover; the
/// stored precision is part of every file name, so the fp16 and fp32 values of one key are
/// different entries. Entries are written to a temporary file and renamed into place, and every
/// read verifies the header (including the precision the name promises) and the payload
/// checksum, so a crash mid-write never leaves an entry that is read as valid: a damaged entry
/// counts as a miss (and is recomputed and replaced). Reads map the file instead of copying it.
public final class EmbeddingCache {
    public typealias Precision = CachePrecision

    public let directory: URL
    public private(set) var hits = 0
    public private(set) var misses = 0
    public private(set) var rejected = 0
    private static let magic: [UInt8] = Array("ASEMB1".utf8) + [0, 0]

    /// The cache folder `<root>/<folderKey>`, created when missing.
    public init(root: URL, folderKey: String) throws {
        directory = root.appendingPathComponent(folderKey, isDirectory: true)
        do { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) } catch {
            throw CheckpointError(file: directory.path,
                                  "cannot create the embedding cache folder (\(error.localizedDescription))")
        }
    }

    public func url(for key: String, _ precision: Precision) -> URL {
        directory.appendingPathComponent("\(key).\(precision.rawValue).emb")
    }

    /// The cached tensor for `key` at `precision`, or nil when absent or invalid.
    public func load(_ key: String, _ precision: Precision) -> Tensor? {
        let url = url(for: key, precision)
        guard let data = try? Data(contentsOf: url, options: .alwaysMapped),
              let tensor = Self.decode(data, precision) else {
            if FileManager.default.fileExists(atPath: url.path) { rejected += 1 }
            misses += 1
            return nil
        }
        hits += 1
        return tensor
    }

    /// Stores `tensor` under `key` at `precision` atomically.
    public func store(_ key: String, _ tensor: Tensor, _ precision: Precision) throws {
        try AtomicFile.write(Self.encode(tensor, precision), to: url(for: key, precision))
    }

    /// True when a file for `key` at `precision` exists (not verified).
    public func contains(_ key: String, _ precision: Precision) -> Bool {
        FileManager.default.fileExists(atPath: url(for: key, precision).path)
    }

    /// The stored bytes of a valid entry, nil when absent or invalid (what a rank sends to ranks
    /// whose node-local cache lacks it).
    public func entryBytes(_ key: String, _ precision: Precision) -> Data? {
        guard let data = try? Data(contentsOf: url(for: key, precision)), Self.decode(data, precision) != nil else {
            return nil
        }
        return data
    }

    /// Stores an entry received from another rank after verifying it (header and checksum);
    /// false when the bytes are not a valid entry (nothing is written).
    @discardableResult
    public func storeEntryBytes(_ data: Data, _ key: String, _ precision: Precision) throws -> Bool {
        guard Self.decode(data, precision) != nil else { return false }
        try AtomicFile.write(data, to: url(for: key, precision))
        return true
    }

    /// Returns the cached tensor or computes, stores and returns it, rounded to `precision` as a
    /// later read would return it.
    public func value(_ key: String, _ precision: Precision, compute: () throws -> Tensor) throws -> Tensor {
        if let cached = load(key, precision) { return cached }
        let fresh = try compute()
        try store(key, fresh, precision)
        return precision == .fp16 ? Self.decode(Self.encode(fresh, precision), precision)! : fresh
    }

    static func encode(_ tensor: Tensor, _ precision: Precision) -> Data {
        var payload: Data
        switch precision {
        case .fp32: payload = DTypeConversion.bytes(of: tensor.data)
        case .fp16:
            payload = Data(count: tensor.count * 2)
            payload.withUnsafeMutableBytes { raw in
                let out = raw.bindMemory(to: UInt16.self)
                for (i, v) in tensor.data.enumerated() { out[i] = Float16(v).bitPattern.littleEndian }
            }
        }
        var header = Data(magic)
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { header.append(contentsOf: $0) } }
        put(precision.code)
        put(UInt32(tensor.rank))
        for d in tensor.shape { put(UInt64(d)) }
        put(UInt64(payload.count))
        put(fnv1a(payload))
        return header + payload
    }

    /// The tensor of an entry stored at `precision`, or nil when the bytes are not a valid one.
    static func decode(_ data: Data, _ precision: Precision) -> Tensor? {
        try? decodeEntry(data, precision, file: "<memory>")
    }

    /// The most dimensions an entry may have, and the largest size of each.
    static let maxRank = 8
    static let maxDimension = UInt64(UInt32.max)

    /// The tensor of an entry stored at `precision`; throws a `CheckpointError` naming `file`, the
    /// header field and the values when the bytes are not a valid entry. The shape's element and
    /// byte counts are overflow-checked and must equal the payload that the file really holds,
    /// so nothing larger than the file is ever allocated.
    static func decodeEntry(_ data: Data, _ precision: Precision, file: String) throws -> Tensor {
        guard data.count >= magic.count, Array(data.prefix(magic.count)) == magic else {
            throw CheckpointError(file: file, "not an embedding cache entry (magic bytes "
                                  + "\(data.prefix(magic.count).map { String($0) }.joined(separator: " ")))")
        }
        var reader = EntryReader(data: data, file: file, offset: magic.count)
        let code = try reader.take(UInt32.self, "dtype")
        guard code == precision.code else {
            throw CheckpointError(file: file,
                                  "entry dtype is \(code), expected \(precision.code) (\(precision.rawValue))")
        }
        let rank = try reader.take(UInt32.self, "rank")
        guard rank <= maxRank else {
            throw CheckpointError(file: file, "entry rank is \(rank), expected at most \(maxRank)")
        }
        let shape = try (0..<Int(rank)).map { d in
            let n = try reader.take(UInt64.self, "shape[\(d)]")
            guard n <= maxDimension else {
                throw CheckpointError(file: file, "entry shape[\(d)] is \(n), expected at most \(maxDimension)")
            }
            return Int(n)
        }
        let count = try elementCount(shape, file: file)
        let bytes = try reader.take(UInt64.self, "payload bytes")
        let checksum = try reader.take(UInt64.self, "checksum")
        let held = data.count - reader.offset
        let (needed, overflow) = count.multipliedReportingOverflow(by: precision.byteWidth)
        guard !overflow, needed == held, bytes == UInt64(held) else {
            throw CheckpointError(file: file, "entry shape \(shape) of \(precision.rawValue) "
                                  + "and payload bytes \(bytes) "
                                  + "do not match the \(held) payload bytes the file holds")
        }
        let payload = data[data.startIndex + reader.offset ..< data.endIndex]
        guard fnv1a(payload) == checksum else {
            throw CheckpointError(file: file, "entry payload checksum does not match")
        }
        let values = DTypeConversion.floats(from: payload, dtype: precision == .fp32 ? .f32 : .f16, count: count)
        return Tensor(shape: shape, data: values)
    }

    /// The product of `shape`, overflow-checked.
    private static func elementCount(_ shape: [Int], file: String) throws -> Int {
        try shape.reduce(1) { count, n in
            let (product, overflow) = count.multipliedReportingOverflow(by: n)
            guard !overflow else {
                throw CheckpointError(file: file, "entry shape \(shape) has more than 2^63 elements")
            }
            return product
        }
    }

    /// Little-endian header fields of an entry, each checked against the end of the file.
    private struct EntryReader {
        let data: Data
        let file: String
        var offset: Int

        mutating func take<T: FixedWidthInteger>(_: T.Type, _ field: String) throws -> T {
            guard data.count - offset >= MemoryLayout<T>.size else {
                throw CheckpointError(file: file, "entry ends inside its header "
                                      + "(field \(field) at byte \(offset) of \(data.count))")
            }
            let value = data.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
            offset += MemoryLayout<T>.size
            return value
        }
    }

    static func fnv1a(_ data: Data) -> UInt64 {
        data.withUnsafeBytes { raw in
            var h: UInt64 = 0xcbf2_9ce4_8422_2325
            let words = raw.count / 8
            for i in 0..<words {
                h = (h ^ raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)) &* 0x100_0000_01b3
            }
            for i in (words * 8)..<raw.count { h = (h ^ UInt64(raw[i])) &* 0x100_0000_01b3 }
            return h
        }
    }

    /// A stable key for a slice's content: volume name, slice index, view and a hash of its pixels.
    public static func entryKey(volume: String, slice: Int, view: Int, pixels: ArraySlice<Float>) -> String {
        let hash = pixels.withUnsafeBytes { fnv1a(Data($0)) }
        let safeName = volume.map { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" ? $0 : "_" }
        return "\(String(safeName))_z\(slice)_v\(view)_\(String(hash, radix: 16))"
    }

    /// A short, stable name for `text`: the first 16 hex digits of its SHA-256, the same in every
    /// process and on every machine (unlike `hashValue`).
    public static func digest(_ text: String) -> String {
        let bytes = Array(text.utf8)
        return String(SHA256.hexString(bytes.withUnsafeBytes { SHA256.digest($0) }).prefix(16))
    }

    /// `digest` of `value` as JSON with sorted keys, so every stored property takes part,
    /// including ones added later.
    public static func digest<T: Encodable>(of value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return digest(String(decoding: try encoder.encode(value), as: UTF8.self))
    }
}

extension EmbeddingCache.Precision {
    /// The header's dtype code.
    var code: UInt32 { self == .fp32 ? 0 : 1 }
    var byteWidth: Int { self == .fp32 ? 4 : 2 }
}
