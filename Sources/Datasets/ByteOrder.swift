import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Byte order of a binary file's multi-byte fields.
public enum ByteOrder: String, Sendable, Codable {
    case little, big

    /// The order of the machine we run on.
    public static var host: ByteOrder { 1.littleEndian == 1 ? .little : .big }
}

/// Reads fixed-offset fields of a binary header in a given byte order (bounds are the caller's job).
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    let order: ByteOrder

    func u8(_ offset: Int) -> UInt8 { bytes[offset] }

    func i16(_ offset: Int) -> Int16 {
        let raw = bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self)
        return Int16(bitPattern: order == .little ? UInt16(littleEndian: raw) : UInt16(bigEndian: raw))
    }

    func i32(_ offset: Int) -> Int32 {
        let raw = bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
        return Int32(bitPattern: order == .little ? UInt32(littleEndian: raw) : UInt32(bigEndian: raw))
    }

    func f32(_ offset: Int) -> Float { Float(bitPattern: UInt32(bitPattern: i32(offset))) }

    /// A NUL-terminated (or full-width) ASCII field.
    func string(_ offset: Int, length: Int) -> String {
        let field = bytes[offset ..< offset + length]
        let end = field.firstIndex(of: 0) ?? field.endIndex
        return String(decoding: field[offset ..< end], as: UTF8.self)
    }
}

/// Appends fixed-size fields in a given byte order.
struct ByteWriter {
    private(set) var bytes: [UInt8] = []
    let order: ByteOrder

    init(order: ByteOrder, capacity: Int = 0) {
        self.order = order
        bytes.reserveCapacity(capacity)
    }

    mutating func u8(_ v: UInt8) { bytes.append(v) }

    mutating func i16(_ v: Int16) {
        let u = UInt16(bitPattern: v)
        let ordered = order == .little ? u.littleEndian : u.bigEndian
        withUnsafeBytes(of: ordered) { bytes.append(contentsOf: $0) }
    }

    mutating func i32(_ v: Int32) {
        let u = UInt32(bitPattern: v)
        let ordered = order == .little ? u.littleEndian : u.bigEndian
        withUnsafeBytes(of: ordered) { bytes.append(contentsOf: $0) }
    }

    mutating func f32(_ v: Float) { i32(Int32(bitPattern: v.bitPattern)) }

    /// `text` as ASCII, truncated or NUL-padded to exactly `length` bytes.
    mutating func string(_ text: String, length: Int) {
        let utf8 = Array(text.utf8.prefix(length))
        bytes.append(contentsOf: utf8)
        bytes.append(contentsOf: [UInt8](repeating: 0, count: length - utf8.count))
    }

    mutating func zeros(_ count: Int) { bytes.append(contentsOf: [UInt8](repeating: 0, count: count)) }
}

/// Whole input files (volumes, slices, Info.cfg), read only when they are regular files: a FIFO
/// would block the reader and a device such as /dev/zero never ends. The file is opened without
/// blocking and checked with `fstat` before a byte is read, and at most its stated size is read.
enum InputFile {
    static func contents(_ url: URL) throws -> Data {
        let fd = open(url.path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            throw DatasetError(file: url.path, .io, "cannot read file (\(String(cString: strerror(errno))))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw DatasetError(file: url.path, .io, "cannot stat file (\(String(cString: strerror(errno))))")
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw DatasetError(file: url.path, .unsupported, "not a regular file (file type: "
                                                             + "\(typeName(info.st_mode))); "
                                                             + "inputs must be regular files")
        }
        return try readAll(fd, size: Int(info.st_size), file: url.path)
    }

    /// Up to `size` bytes from `fd` (fewer if the file shrinks while it is read).
    private static func readAll(_ fd: Int32, size: Int, file: String) throws -> Data {
        var data = Data(count: size)
        var done = 0
        try data.withUnsafeMutableBytes { (buffer: UnsafeMutableRawBufferPointer) in
            guard let base = buffer.baseAddress else { return }
            while done < size {
                let n = read(fd, base + done, size - done)
                if n == 0 { break }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw DatasetError(file: file, .io, "cannot read file (\(String(cString: strerror(errno))))")
                }
                done += n
            }
        }
        return done == size ? data : data.prefix(done)
    }

    /// The file type of `mode` in words, for the error.
    private static func typeName(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFIFO: return "a FIFO"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFDIR: return "a folder"
        case S_IFSOCK: return "a socket"
        default: return "unknown (mode \(String(mode, radix: 8)))"
        }
    }
}
