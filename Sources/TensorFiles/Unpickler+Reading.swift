/// Bounds-checked reads of opcode arguments. Every length is checked against the bytes that
/// remain before anything is allocated.
extension Unpickler {
    var remaining: Int { bytes.count - position }

    mutating func take(_ count: Int, _ what: String) throws -> UnsafeRawBufferPointer {
        guard count >= 0, count <= remaining else {
            throw PickleFailure("\(what) needs \(count) bytes but only \(remaining) remain "
                                + "(truncated or corrupt pickle)")
        }
        defer { position += count }
        return UnsafeRawBufferPointer(rebasing: bytes[position ..< position + count])
    }

    /// A fixed-width field in its raw (file) byte order.
    mutating func raw<T: FixedWidthInteger>(_: T.Type, _ what: String) throws -> T {
        try take(MemoryLayout<T>.size, what).loadUnaligned(as: T.self)
    }

    /// A little-endian integer argument.
    mutating func integer<T: FixedWidthInteger>(_: T.Type, _ what: String) throws -> T {
        T(littleEndian: try raw(T.self, what))
    }

    /// A little-endian length prefix, which must be non-negative and fit in the remaining bytes.
    mutating func length<T: FixedWidthInteger>(_: T.Type, _ what: String) throws -> Int {
        let value = try integer(T.self, what)
        guard value >= 0, let n = Int(exactly: value), n <= remaining else {
            throw PickleFailure("\(what) length \(value) exceeds the \(remaining) remaining bytes")
        }
        return n
    }

    /// `count` bytes of UTF-8 text (BINUNICODE and friends; BINSTRING's ASCII is a subset).
    mutating func text(_ count: Int, _ what: String) throws -> String {
        guard count <= remaining else {
            throw PickleFailure("\(what) length \(count) exceeds the \(remaining) remaining bytes")
        }
        guard let s = String(validating: try take(count, what), as: UTF8.self) else {
            throw PickleFailure("\(what) of \(count) bytes is not valid UTF-8")
        }
        return s
    }

    /// A newline-terminated ASCII line (GLOBAL's module and name), at most 256 bytes.
    mutating func line(_ what: String) throws -> String {
        let limit = min(remaining, 257)
        guard let end = (0..<limit).first(where: { bytes[position + $0] == 0x0A }) else {
            throw PickleFailure("\(what) argument has no newline within \(limit) bytes")
        }
        let value = try text(end, what)
        position += 1   // the newline
        return value
    }

    /// LONG1: a length byte and that many bytes of little-endian two's complement (at most 8).
    mutating func long1() throws -> Int {
        let count = Int(try integer(UInt8.self, "LONG1"))
        guard count <= 8 else { throw PickleFailure("LONG1 integer of \(count) bytes is too large") }
        let digits = try take(count, "LONG1")
        guard count > 0 else { return 0 }
        var value: UInt64 = 0
        for i in stride(from: count - 1, through: 0, by: -1) { value = value << 8 | UInt64(digits[i]) }
        let shift = UInt64(64 - 8 * count)
        return Int(Int64(bitPattern: value << shift) >> Int64(shift))
    }
}
