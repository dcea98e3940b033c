import Foundation

/// A read-only ZIP archive over a memory-mapped file, enough for PyTorch's `torch.save` format:
/// the central directory is parsed (with Zip64 sizes and offsets), and only **stored** (method 0)
/// entries can be read, in place, without copying. Every offset and size is checked against the
/// file size before use.
///
/// ref: PKWARE APPNOTE.TXT 6.3.10, §4.3.7 (local header), §4.3.12 (central directory header),
/// §4.3.14-16 (Zip64 end record, locator, end of central directory), §4.5.3 (Zip64 extra field).
public struct ZipArchive: Sendable {
    public struct Entry: Sendable, Equatable {
        public let name: String
        /// Compression method (0 = stored, 8 = deflate, ...).
        public let method: UInt16
        public let flags: UInt16
        public let compressedSize: Int
        public let uncompressedSize: Int
        public let localHeaderOffset: Int
        /// Where the entry's bytes start: local header offset + 30 + the *local* name and extra lengths.
        public let dataOffset: Int
    }

    public let file: MappedFile
    /// Entries in central-directory order.
    public let entries: [Entry]
    private let index: [String: Int]

    public var path: String { file.path }

    public init(file: MappedFile) throws {
        self.file = file
        let reader = ZipBytes(bytes: file.bytes, path: file.path)
        let directory = try reader.centralDirectoryLocation()
        var entries: [Entry] = []
        var index: [String: Int] = [:]
        var cursor = directory.offset
        let end = directory.offset + directory.size
        for number in 0..<directory.count {
            let entry = try reader.centralEntry(at: &cursor, end: end, number: number, directoryStart: directory.offset)
            guard index[entry.name] == nil else {
                throw CheckpointError(file: file.path, "ZIP entry '\(entry.name)' appears "
                                                       + "twice in the central directory")
            }
            index[entry.name] = entries.count
            entries.append(entry)
        }
        self.entries = entries
        self.index = index
    }

    public init(path: String) throws { try self.init(file: MappedFile(path: path)) }

    public func entry(_ name: String) -> Entry? { index[name].map { entries[$0] } }

    /// The bytes of a stored entry, pointing into the mapped file (valid while `file` is alive).
    public func contents(of entry: Entry) throws -> UnsafeRawBufferPointer {
        guard entry.flags & 1 == 0 else {
            throw CheckpointError(file: path, "ZIP entry '\(entry.name)' is encrypted")
        }
        guard entry.method == 0 else {
            let kind = entry.method == 8 ? "deflate" : "method \(entry.method)"
            throw CheckpointError(file: path, "ZIP entry '\(entry.name)' is compressed (\(kind)); only stored "
                                              + "(uncompressed) entries are supported, as written by torch.save")
        }
        guard entry.compressedSize == entry.uncompressedSize else {
            throw CheckpointError(file: path, "ZIP entry '\(entry.name)' is stored but its sizes differ "
                                              + "(\(entry.compressedSize) vs \(entry.uncompressedSize))")
        }
        let end = entry.dataOffset + entry.compressedSize
        return UnsafeRawBufferPointer(rebasing: file.bytes[entry.dataOffset ..< end])
    }

    /// The bytes of the stored entry named `name`, or an error naming the missing entry.
    public func contents(of name: String) throws -> UnsafeRawBufferPointer {
        guard let e = entry(name) else { throw CheckpointError(file: path, "ZIP entry '\(name)' is missing") }
        return try contents(of: e)
    }
}

/// Bounds-checked little-endian field access for the ZIP structures.
private struct ZipBytes {
    let bytes: UnsafeRawBufferPointer
    let path: String

    static let endOfDirectorySignature: UInt32 = 0x0605_4B50
    static let zip64LocatorSignature: UInt32 = 0x0706_4B50
    static let zip64EndSignature: UInt32 = 0x0606_4B50
    static let centralHeaderSignature: UInt32 = 0x0201_4B50
    static let localHeaderSignature: UInt32 = 0x0403_4B50

    func fail(_ message: String) -> CheckpointError { CheckpointError(file: path, message) }

    /// Whether `count` bytes starting at `offset` lie inside the file (overflow-safe).
    func contains(_ offset: Int, _ count: Int) -> Bool {
        offset >= 0 && count >= 0 && offset <= bytes.count && count <= bytes.count - offset
    }

    func read<T: FixedWidthInteger>(_: T.Type, _ offset: Int, _ what: String) throws -> T {
        guard contains(offset, MemoryLayout<T>.size) else {
            throw fail("ZIP \(what) at byte \(offset) runs past the end of the \(bytes.count)-byte file")
        }
        return T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    func int(_ value: UInt64, _ what: String) throws -> Int {
        guard let v = Int(exactly: value) else { throw fail("ZIP \(what) \(value) is too large") }
        return v
    }

    /// Finds the end-of-central-directory record by scanning backwards over the maximal comment
    /// (65535 bytes); the record's comment length must reach exactly to the end of the file.
    func endOfDirectoryOffset() throws -> Int {
        guard bytes.count >= 22 else {
            throw fail("not a ZIP archive: \(bytes.count) bytes is shorter than an end-of-central-directory record")
        }
        let lowest = max(0, bytes.count - 22 - 65535)
        var position = bytes.count - 22
        while position >= lowest {
            if try read(UInt32.self, position, "end record") == Self.endOfDirectorySignature,
               try Int(read(UInt16.self, position + 20, "comment length")) == bytes.count - 22 - position {
                return position
            }
            position -= 1
        }
        throw fail("no ZIP end-of-central-directory record in the last \(bytes.count - lowest) bytes "
                   + "(truncated or not a ZIP archive)")
    }

    /// Offset, size and entry count of the central directory, from the classic end record or,
    /// when its fields are saturated, from the Zip64 end record.
    func centralDirectoryLocation() throws -> (offset: Int, size: Int, count: Int) {
        let eocd = try endOfDirectoryOffset()
        let disk = try read(UInt16.self, eocd + 4, "disk number")
        let directoryDisk = try read(UInt16.self, eocd + 6, "directory disk")
        guard disk == 0, directoryDisk == 0 else { throw fail("multi-disk ZIP archives are not supported") }
        var count = UInt64(try read(UInt16.self, eocd + 10, "entry count"))
        var size = UInt64(try read(UInt32.self, eocd + 12, "directory size"))
        var offset = UInt64(try read(UInt32.self, eocd + 16, "directory offset"))
        var directoryEnd = eocd
        if count == 0xFFFF || size == 0xFFFF_FFFF || offset == 0xFFFF_FFFF {
            let locator = eocd - 20
            guard locator >= 0, try read(UInt32.self, locator, "Zip64 locator") == Self.zip64LocatorSignature else {
                throw fail("ZIP end record has saturated fields but no Zip64 end-of-central-directory locator")
            }
            let record = try int(read(UInt64.self, locator + 8, "Zip64 end record offset"), "Zip64 end record offset")
            guard record <= locator - 56,
                  try read(UInt32.self, record, "Zip64 end record") == Self.zip64EndSignature else {
                throw fail("ZIP Zip64 end-of-central-directory record missing at byte \(record)")
            }
            count = try read(UInt64.self, record + 32, "Zip64 entry count")
            size = try read(UInt64.self, record + 40, "Zip64 directory size")
            offset = try read(UInt64.self, record + 48, "Zip64 directory offset")
            directoryEnd = record
        }
        let start = try int(offset, "central directory offset")
        let length = try int(size, "central directory size")
        guard start <= directoryEnd, length <= directoryEnd - start else {
            throw fail("ZIP central directory (\(length) bytes at byte \(start)) overlaps "
                       + "the end record at byte \(directoryEnd) (truncated or damaged archive)")
        }
        guard count <= UInt64(length / 46) else {
            throw fail("ZIP claims \(count) entries but its \(length)-byte "
                       + "central directory can hold at most \(length / 46)")
        }
        return (start, length, Int(count))
    }

    /// Parses the central directory header at `cursor` (advancing it) and its local header.
    func centralEntry(at cursor: inout Int, end: Int, number: Int, directoryStart: Int) throws -> ZipArchive.Entry {
        let at = cursor
        guard at <= end - 46, try read(UInt32.self, at, "central header") == Self.centralHeaderSignature else {
            throw fail("ZIP central directory entry \(number) at byte \(at) is damaged "
                       + "(bad signature or past the directory end)")
        }
        let flags = try read(UInt16.self, at + 8, "flags")
        let method = try read(UInt16.self, at + 10, "method")
        var compressed = UInt64(try read(UInt32.self, at + 20, "compressed size"))
        var uncompressed = UInt64(try read(UInt32.self, at + 24, "uncompressed size"))
        let nameLength = Int(try read(UInt16.self, at + 28, "name length"))
        let extraLength = Int(try read(UInt16.self, at + 30, "extra length"))
        let commentLength = Int(try read(UInt16.self, at + 32, "comment length"))
        var localOffset = UInt64(try read(UInt32.self, at + 42, "local header offset"))
        let next = at + 46 + nameLength + extraLength + commentLength
        guard next <= end else {
            throw fail("ZIP central directory entry \(number) at byte \(at) runs past the directory end")
        }
        let nameBytes = UnsafeRawBufferPointer(rebasing: bytes[at + 46 ..< at + 46 + nameLength])
        let name = String(decoding: nameBytes, as: UTF8.self)
        var extra = at + 46 + nameLength
        let extraEnd = extra + extraLength
        while extra + 4 <= extraEnd {
            let id = try read(UInt16.self, extra, "extra id")
            let length = Int(try read(UInt16.self, extra + 2, "extra length"))
            guard extra + 4 + length <= extraEnd else {
                throw fail("ZIP entry '\(name)': extra field runs past its end")
            }
            if id == 0x0001 {
                var field = extra + 4
                let fieldEnd = field + length
                if uncompressed == 0xFFFF_FFFF { uncompressed = try zip64Value(&field, fieldEnd, name) }
                if compressed == 0xFFFF_FFFF { compressed = try zip64Value(&field, fieldEnd, name) }
                if localOffset == 0xFFFF_FFFF { localOffset = try zip64Value(&field, fieldEnd, name) }
            }
            extra += 4 + length
        }
        cursor = next
        return try located(name: name, flags: flags, method: method, compressed: compressed,
                           uncompressed: uncompressed, localOffset: localOffset, directoryStart: directoryStart)
    }

    /// The next 8-byte value of a Zip64 extra field.
    func zip64Value(_ field: inout Int, _ end: Int, _ name: String) throws -> UInt64 {
        guard field + 8 <= end else { throw fail("ZIP entry '\(name)': Zip64 extra field too short") }
        defer { field += 8 }
        return try read(UInt64.self, field, "Zip64 value")
    }

    /// Reads the local header to find where the entry's data starts, and checks it ends before
    /// the central directory.
    func located(name: String, flags: UInt16, method: UInt16, compressed: UInt64, uncompressed: UInt64,
                 localOffset: UInt64, directoryStart: Int) throws -> ZipArchive.Entry {
        let local = try int(localOffset, "local header offset of '\(name)'")
        let size = try int(compressed, "compressed size of '\(name)'")
        guard local <= directoryStart - 30,
              try read(UInt32.self, local, "local header") == Self.localHeaderSignature else {
            throw fail("ZIP entry '\(name)': no local header at byte \(local) (truncated or damaged archive)")
        }
        let nameLength = Int(try read(UInt16.self, local + 26, "local name length"))
        let extraLength = Int(try read(UInt16.self, local + 28, "local extra length"))
        let data = local + 30 + nameLength + extraLength
        guard data <= directoryStart, size <= directoryStart - data else {
            throw fail("ZIP entry '\(name)': \(size) bytes at byte \(data) run past the start of the "
                       + "central directory at byte \(directoryStart) (truncated or damaged archive)")
        }
        return ZipArchive.Entry(name: name, method: method, flags: flags, compressedSize: size,
                                uncompressedSize: try int(uncompressed, "uncompressed size of '\(name)'"),
                                localHeaderOffset: local, dataOffset: data)
    }
}
