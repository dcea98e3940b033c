import Foundation

/// A JSON number literal as an exact decimal: digits (no leading or trailing zeros) times a
/// power of ten, so integrality and range are decided without rounding.
struct NumberLiteral {
    var negative = false
    var digits: [UInt8] = []
    var exponent = 0

    init(_ text: String) {
        let bytes = Array(text.utf8)
        var i = 0, fractionDigits = 0, written = 0
        func isDigit(_ i: Int) -> Bool { i < bytes.count && (48...57).contains(bytes[i]) }
        if i < bytes.count && bytes[i] == UInt8(ascii: "-") { negative = true; i += 1 }
        while isDigit(i) { digits.append(bytes[i] - 48); i += 1 }
        if i < bytes.count && bytes[i] == UInt8(ascii: ".") {
            i += 1
            while isDigit(i) { digits.append(bytes[i] - 48); fractionDigits += 1; i += 1 }
        }
        if i < bytes.count && (bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E")) {
            i += 1
            var sign = 1
            if i < bytes.count && (bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-")) {
                sign = bytes[i] == UInt8(ascii: "-") ? -1 : 1
                i += 1
            }
            while isDigit(i) {
                if written < 1_000_000_000 { written = written * 10 + Int(bytes[i] - 48) }
                i += 1
            }
            written *= sign
        }
        digits.removeFirst(digits.firstIndex { $0 != 0 } ?? digits.count)
        exponent = written - fractionDigits
        while digits.last == 0 {
            digits.removeLast()
            exponent += 1
        }
    }

    var isZero: Bool { digits.isEmpty }

    enum IntegerValue: Equatable { case exact(Int), fractional, outOfRange }

    var integer: IntegerValue {
        if digits.isEmpty { return .exact(0) }
        if exponent < 0 { return .fractional }
        if digits.count + exponent > 19 { return .outOfRange }
        var magnitude: UInt64 = 0
        for d in digits + [UInt8](repeating: 0, count: exponent) {
            let (times10, o1) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt64(d))
            if o1 || o2 { return .outOfRange }
            magnitude = sum
        }
        if negative {
            if magnitude == UInt64(Int.max) + 1 { return .exact(Int.min) }
            return magnitude <= UInt64(Int.max) ? .exact(-Int(magnitude)) : .outOfRange
        }
        return magnitude <= UInt64(Int.max) ? .exact(Int(magnitude)) : .outOfRange
    }
}

// MARK: - Strict JSON

/// A JSON value as written: object members in order, numbers as their literal text.
indirect enum JSONValue: Sendable {
    struct Member: Sendable {
        let key: String
        let value: JSONValue
        /// Byte offset of the key in the text.
        let offset: Int
    }
    case object([Member])
    case array([JSONValue])
    case string(String)
    case number(String)
    case bool(Bool)
    case null

    var isString: Bool { if case .string = self { return true } else { return false } }

    /// The value as shown in an error: numbers and literals as written, strings quoted (long
    /// ones cut), containers by kind.
    var shortDescription: String {
        switch self {
        case .object: return "an object"
        case .array: return "a list"
        case .string(let s):
            let shown = s.count > 40 ? String(s.prefix(40)) + "..." : s
            return JSONValue.quoted(shown)
        case .number(let text): return text.count > 40 ? String(text.prefix(40)) + "..." : text
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        }
    }

    /// Compact JSON text.
    var text: String {
        switch self {
        case .object(let members):
            return "{" + members.map { JSONValue.quoted($0.key) + ":" + $0.value.text }.joined(separator: ",") + "}"
        case .array(let items): return "[" + items.map(\.text).joined(separator: ",") + "]"
        case .string(let s): return JSONValue.quoted(s)
        case .number(let text): return text
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        }
    }

    static func quoted(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case _ where u.value < 0x20 || u.value == 0x7F:
                out += String(format: "\\u%04x", u.value)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }
}
