import Foundation

/// A strict RFC 8259 reader: no repeated keys in an object (JSONSerialization keeps the last
/// silently), no trailing commas, comments, leading zeros, NaN or lone surrogates; valid UTF-8
/// only; nesting at most `maxDepth` deep. Errors give the line and column.
enum StrictJSON {
    static let maxDepth = 64

    struct TextError: Error {
        let message: String
        var isDuplicateKey = false
    }

    /// Parses one JSON value filling `bytes` (any value, not only an object). `path` is the key
    /// path of the value, prefixed to the key paths in errors.
    static func parse(_ bytes: [UInt8], path: [String] = []) throws -> JSONValue {
        var reader = Reader(bytes: bytes)
        return try reader.document(path: path)
    }

    private struct Reader {
        let bytes: [UInt8]
        var i = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        var peek: UInt8? { i < bytes.count ? bytes[i] : nil }

        mutating func document(path: [String]) throws -> JSONValue {
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { i = 3 }   // a UTF-8 byte order mark
            skipSpace()
            guard i < bytes.count else { throw fail("the text is empty") }
            let value = try self.value(depth: 0, path: path)
            skipSpace()
            guard i == bytes.count else { throw fail("unexpected \(shown) after the end of the JSON value") }
            return value
        }

        mutating func value(depth: Int, path: [String]) throws -> JSONValue {
            guard let b = peek else { throw fail("unexpected end of the text (is it cut short?)") }
            switch b {
            case UInt8(ascii: "{"): return try object(depth: depth + 1, path: path)
            case UInt8(ascii: "["): return try array(depth: depth + 1, path: path)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .null
            default: throw fail("unexpected \(shown) where a value should start")
            }
        }

        mutating func object(depth: Int, path: [String]) throws -> JSONValue {
            guard depth <= StrictJSON.maxDepth else {
                throw fail("objects and lists nested deeper than \(StrictJSON.maxDepth) levels")
            }
            i += 1
            var members: [JSONValue.Member] = []
            var seen: [String: Int] = [:]
            skipSpace()
            if peek == UInt8(ascii: "}") { i += 1; return .object([]) }
            while true {
                skipSpace()
                guard peek == UInt8(ascii: "\"") else {
                    throw fail(peek == nil ? "unexpected end of the text inside an object (is it cut short?)"
                               : "expected a key in double quotes, found \(shown)")
                }
                let offset = i
                let key = try string()
                let keyPath = path + [key]
                if let first = seen[key] {
                    throw TextError(message: "duplicate key '\(keyPath.joined(separator: "."))' "
                                    + "at \(location(offset)), first at \(location(first)): "
                                    + "a key may appear once per object",
                                    isDuplicateKey: true)
                }
                seen[key] = offset
                skipSpace()
                guard peek == UInt8(ascii: ":") else {
                    throw fail("expected ':' after the key \(JSONValue.quoted(key)), found \(shown)")
                }
                i += 1
                skipSpace()
                members.append(.init(key: key, value: try value(depth: depth, path: keyPath), offset: offset))
                skipSpace()
                if peek == UInt8(ascii: ",") { i += 1; continue }
                if peek == UInt8(ascii: "}") { i += 1; return .object(members) }
                throw fail("expected ',' or '}' after the value of \(JSONValue.quoted(key)), found \(shown)")
            }
        }

        mutating func array(depth: Int, path: [String]) throws -> JSONValue {
            guard depth <= StrictJSON.maxDepth else {
                throw fail("objects and lists nested deeper than \(StrictJSON.maxDepth) levels")
            }
            i += 1
            var items: [JSONValue] = []
            skipSpace()
            if peek == UInt8(ascii: "]") { i += 1; return .array([]) }
            while true {
                skipSpace()
                var itemPath = path
                let index = "[\(items.count)]"
                if itemPath.isEmpty { itemPath = [index] } else { itemPath[itemPath.count - 1] += index }
                items.append(try value(depth: depth, path: itemPath))
                skipSpace()
                if peek == UInt8(ascii: ",") { i += 1; continue }
                if peek == UInt8(ascii: "]") { i += 1; return .array(items) }
                throw fail(peek == nil ? "unexpected end of the text inside a list (is it cut short?)"
                           : "expected ',' or ']' in a list, found \(shown)")
            }
        }

        mutating func string() throws -> String {
            let start = i
            i += 1
            var out: [UInt8] = []
            while true {
                guard let b = peek else { throw fail("unterminated string (opened at \(location(start)))") }
                switch b {
                case UInt8(ascii: "\""):
                    i += 1
                    guard let s = String(validating: out, as: UTF8.self) else {
                        throw fail("invalid UTF-8 in the string", at: start)
                    }
                    return s
                case UInt8(ascii: "\\"):
                    let escape = i
                    i += 1
                    guard let e = peek else { throw fail("unterminated string (opened at \(location(start)))") }
                    i += 1
                    switch e {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try hex4(escape)
                        if (0xD800...0xDBFF).contains(scalar) {
                            guard peek == UInt8(ascii: "\\"), i + 1 < bytes.count,
                                  bytes[i + 1] == UInt8(ascii: "u") else {
                                throw fail("unpaired UTF-16 surrogate in a \\u escape", at: escape)
                            }
                            i += 2
                            let low = try hex4(escape)
                            guard (0xDC00...0xDFFF).contains(low) else {
                                throw fail("unpaired UTF-16 surrogate in a \\u escape", at: escape)
                            }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00...0xDFFF).contains(scalar) {
                            throw fail("unpaired UTF-16 surrogate in a \\u escape", at: escape)
                        }
                        guard let u = Unicode.Scalar(scalar) else { throw fail("invalid \\u escape", at: escape) }
                        out.append(contentsOf: Array(String(Character(u)).utf8))
                    default:
                        throw fail("invalid escape \\\(Self.describe(e)) in a string", at: escape)
                    }
                case 0..<0x20:
                    throw fail("control character \(Self.describe(b)) in a string (write it as an escape such as \\n)")
                default:
                    out.append(b)
                    i += 1
                }
            }
        }

        /// The 4 hex digits of a `\u` escape (`i` just after the `u`).
        mutating func hex4(_ escape: Int) throws -> UInt32 {
            var v: UInt32 = 0
            for _ in 0..<4 {
                guard let b = peek else { throw fail("unterminated \\u escape", at: escape) }
                let digit: UInt8
                switch b {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = b - 48
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = b - 87
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = b - 55
                default: throw fail("\\u needs 4 hex digits", at: escape)
                }
                v = v << 4 | UInt32(digit)
                i += 1
            }
            return v
        }

        mutating func number() throws -> String {
            let start = i
            func isDigit(_ b: UInt8?) -> Bool { b.map { (48...57).contains($0) } ?? false }
            if peek == UInt8(ascii: "-") { i += 1 }
            guard isDigit(peek) else { throw fail("invalid number: a digit must follow '-'", at: start) }
            if peek == UInt8(ascii: "0") {
                i += 1
                if isDigit(peek) { throw fail("invalid number: leading zeros are not allowed", at: start) }
            } else {
                while isDigit(peek) { i += 1 }
            }
            if peek == UInt8(ascii: ".") {
                i += 1
                guard isDigit(peek) else { throw fail("invalid number: a digit must follow '.'", at: start) }
                while isDigit(peek) { i += 1 }
            }
            if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
                i += 1
                if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { i += 1 }
                guard isDigit(peek) else { throw fail("invalid number: the exponent needs digits", at: start) }
                while isDigit(peek) { i += 1 }
            }
            return String(decoding: bytes[start..<i], as: UTF8.self)
        }

        mutating func literal(_ word: String) throws {
            let w = Array(word.utf8)
            guard bytes.count - i >= w.count, Array(bytes[i ..< i + w.count]) == w else {
                throw fail("unexpected \(shown) where a value should start")
            }
            i += w.count
        }

        mutating func skipSpace() {
            while let b = peek, b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D { i += 1 }
        }

        /// The byte at the cursor, for errors.
        var shown: String { peek.map { Self.describe($0) } ?? "end of the text" }

        static func describe(_ b: UInt8) -> String {
            (0x21...0x7E).contains(b) ? "'\(Character(Unicode.Scalar(b)))'" : String(format: "byte 0x%02X", b)
        }

        /// "line L, column C" of a byte offset (both from 1; columns count bytes).
        func location(_ offset: Int) -> String {
            var line = 1, lineStart = 0
            for k in 0..<min(offset, bytes.count) where bytes[k] == 0x0A {
                line += 1
                lineStart = k + 1
            }
            return "line \(line), column \(offset - lineStart + 1)"
        }

        func fail(_ message: String, at offset: Int? = nil) -> TextError {
            TextError(message: "\(message) at \(location(offset ?? i))")
        }
    }
}
