import Foundation

// MARK: - Key types

/// The type of every config key, read off `ExperimentConfig()` by reflection, and the check of a
/// JSON value against it.
indirect enum ConfigSchema: Sendable {
    case int, float, double, string, bool, intList, stringList
    /// A `ConfigChoice`: one of these strings; `phrase` lists them in errors when given.
    case choice([String], phrase: String?)
    case section([(key: String, schema: ConfigSchema)])
    /// A type this loader does not know: passed to `JSONDecoder` as given.
    case opaque

    static let root = make(ExperimentConfig())
    /// The encoded defaults, number texts as `JSONEncoder` wrote them.
    static let defaults: JSONValue = try! StrictJSON.parse(Array(try! JSONEncoder().encode(ExperimentConfig())))

    static func make(_ value: Any) -> ConfigSchema {
        switch value {
        case is Int: return .int
        case is Float: return .float
        case is Double: return .double
        case is String: return .string
        case is Bool: return .bool
        // By exact type: an empty array passes `is` for any element type.
        case _ where type(of: value) == [Int].self: return .intList
        case _ where type(of: value) == [String].self: return .stringList
        case let c as any ConfigChoice: return .choice(type(of: c).choices, phrase: type(of: c).allowedPhrase)
        default:
            let mirror = Mirror(reflecting: value)
            guard mirror.displayStyle == .struct else { return .opaque }
            return .section(mirror.children.compactMap { child in child.label.map { ($0, make(child.value)) } })
        }
    }

    /// Every leaf key, dotted, in declaration order.
    var leafKeys: [String] {
        guard case .section(let fields) = self else { return [] }
        return fields.flatMap { field -> [String] in
            let sub = field.schema.leafKeys
            if case .section = field.schema { return sub.map { "\(field.key).\($0)" } }
            return [field.key]
        }
    }

    struct ValueError: Error { let message: String }

    /// `value` if this type holds it exactly (an integral number literal rewritten as the
    /// integer), else an error naming `key`, the expected type and the value given.
    func check(_ value: JSONValue, key: String) throws -> JSONValue {
        func wrong(_ expected: String, _ note: String = "") -> ValueError {
            ValueError(message: "\(key) must be \(expected), got \(value.shortDescription)\(note)")
        }
        switch self {
        case .int:
            guard case .number(let text) = value else { throw wrong("an integer") }
            switch NumberLiteral(text).integer {
            case .exact(let n): return .number(String(n))
            case .fractional: throw wrong("an integer")
            case .outOfRange: throw wrong("an integer", " (outside the 64-bit integer range)")
            }
        case .float:
            guard case .number(let text) = value else { throw wrong("a number") }
            guard let f = Float(text), f.isFinite else {
                throw wrong("a number", " (outside the 32-bit float range, about ±3.4e38)")
            }
            if f == 0 && !NumberLiteral(text).isZero {
                throw wrong("a number", " (too small for a 32-bit float: it would be 0)")
            }
            return value
        case .double:
            guard case .number(let text) = value else { throw wrong("a number") }
            guard let x = Double(text), x.isFinite else { throw wrong("a number", " (outside the 64-bit float range)") }
            if x == 0 && !NumberLiteral(text).isZero {
                throw wrong("a number", " (too small for a 64-bit float: it would be 0)")
            }
            return value
        case .string:
            guard case .string(let s) = value else { throw wrong("a string") }
            guard !s.unicodeScalars.contains("\u{0}") else {
                throw ValueError(message: "\(key) must not contain a NUL character (\\u0000)")
            }
            return value
        case .bool:
            guard case .bool = value else { throw wrong("true or false") }
            return value
        case .choice(let allowed, let phrase):
            let list = phrase ?? (allowed.dropLast().joined(separator: ", ") + " or " + allowed.last!)
            guard case .string(let s) = value else { throw wrong(list) }
            guard allowed.contains(s) else { throw ValueError(message: "\(key) must be \(list), got '\(s)'") }
            return value
        case .intList:
            guard case .array(let items) = value else { throw wrong("a list of integers") }
            return .array(try items.enumerated().map {
                try ConfigSchema.int.check($0.element, key: "\(key)[\($0.offset)]")
            })
        case .stringList:
            guard case .array(let items) = value else { throw wrong("a list of strings") }
            return .array(try items.enumerated().map {
                try ConfigSchema.string.check($0.element, key: "\(key)[\($0.offset)]")
            })
        case .section:
            guard case .object = value else { throw wrong("an object") }
            return value
        case .opaque:
            return value
        }
    }
}
