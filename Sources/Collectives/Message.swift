import Foundation

/// A flat byte message for broadcasts of structured data: fields appended in order, each
/// variable-length one prefixed by its length (UInt64 little-endian). `MessageReader` takes them
/// back in the same order and reports a truncated or malformed message instead of trapping.
public struct MessageWriter {
    public private(set) var bytes: [UInt8] = []
    public init() {}

    public mutating func put(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    public mutating func put(_ value: Int) { put(UInt64(bitPattern: Int64(value))) }
    public mutating func put(_ value: Double) { put(value.bitPattern) }
    public mutating func put(_ data: Data) {
        put(UInt64(data.count))
        bytes += data
    }
    public mutating func put(_ raw: [UInt8]) {
        put(UInt64(raw.count))
        bytes += raw
    }
    public mutating func put(_ text: String) { put(Data(text.utf8)) }
    public mutating func put(_ text: String?) {
        put(text == nil ? 0 : 1)
        if let text { put(text) }
    }
    public mutating func put(_ values: [Float]) { values.withUnsafeBytes { put(Array($0)) } }
}

public struct MessageReader {
    public struct Malformed: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    private let bytes: [UInt8]
    private var at = 0
    private let what: String
    /// `what` names the message in errors ("data broadcast").
    public init(_ bytes: [UInt8], what: String) {
        self.bytes = bytes
        self.what = what
    }

    public var isAtEnd: Bool { at == bytes.count }

    private func malformed(_ detail: String) -> Malformed {
        Malformed(description: "malformed \(what) message (\(bytes.count) bytes): \(detail) at byte \(at)")
    }

    public mutating func uint64() throws -> UInt64 {
        guard bytes.count - at >= 8 else { throw malformed("truncated") }
        defer { at += 8 }
        return (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[at + $1]) << (8 * UInt64($1)) }
    }
    public mutating func int() throws -> Int { Int(Int64(bitPattern: try uint64())) }
    public mutating func double() throws -> Double { Double(bitPattern: try uint64()) }
    public mutating func raw() throws -> ArraySlice<UInt8> {
        let n = try uint64()
        guard n <= UInt64(bytes.count - at) else { throw malformed("a field of \(n) bytes overruns the message") }
        defer { at += Int(n) }
        return bytes[at ..< at + Int(n)]
    }
    public mutating func data() throws -> Data { Data(try raw()) }
    public mutating func string() throws -> String { String(decoding: try raw(), as: UTF8.self) }
    public mutating func optionalString() throws -> String? { try int() == 0 ? nil : try string() }
    public mutating func floats() throws -> [Float] {
        let r = try raw()
        guard r.count % 4 == 0 else { throw malformed("\(r.count) bytes is not a whole number of floats") }
        return r.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }
}
