import TensorFiles
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A configuration problem: which file or override, which key, what was wrong.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public let source: String
    public let message: String
    public init(source: String, message: String) {
        self.source = source
        self.message = message
    }
    /// `<source>: <message>`, or the message alone when it already starts with the source
    /// (`<path> is a folder, not a config file`).
    public var description: String {
        !source.isEmpty && message.hasPrefix(source) ? message : "\(source): \(message)"
    }
}

/// Reads an `ExperimentConfig` from JSON with defaults, unknown-key rejection, `--set` overrides
/// and validation of the allowed values.
///
/// The known key tree and each key's type come from `ExperimentConfig` itself (its default
/// value, by reflection), so there is exactly one place that lists keys and defaults. The file is
/// parsed by a strict JSON reader (`StrictJSON`): a repeated key is an error, not "last wins",
/// and numbers keep their literal text, so a value that the key's type cannot hold exactly (2.5
/// or 1e300 for an integer, 1e300 for a 32-bit float) is rejected instead of rounded. Every error
/// names the key and the source that set it last: the file, or the `--set` item.
public enum ConfigLoader {
    /// Largest config file read: a config is a few kB; this stops `-c /dev/zero`-like mistakes.
    static let maxFileBytes = 16 << 20

    /// Loads `file` (nil: defaults only), applies `overrides` (`a.b=value`, value parsed as JSON when
    /// it is valid JSON, else taken as a string; for a string key the text is taken as is unless
    /// it is a quoted JSON string), validates and returns the resolved config.
    public static func load(file: URL?, overrides: [String] = []) throws -> ExperimentConfig {
        try load(json: try file.map(readConfigFile), source: file?.path ?? "defaults", overrides: overrides)
    }

    /// `load(file:overrides:)` on the bytes of a config file (nil: none), named `source` in errors.
    static func load(json: [UInt8]?, source: String, overrides: [String] = []) throws -> ExperimentConfig {
        var resolver = Resolver()
        if let json {
            let value = try parseJSON(json, source: source)
            guard case .object(let members) = value else {
                throw ConfigError(source: source, message: "not a JSON object (a config is {\"key\": value, ...}), "
                                  + "found \(value.shortDescription)")
            }
            try resolver.assign(.object(members), at: [], source: source)
        }
        for item in overrides { try resolver.apply(override: item) }
        let fallback = source
        let config = try resolver.decode(fallback: fallback)
        try validate(config, sources: resolver.sources, fallback: fallback)
        try checkDecoderHeads(config, sources: resolver.sources, fallback: fallback)
        return config
    }

    /// Pretty JSON of a resolved config (printed at start, saved with every run and checkpoint).
    public static func render(_ config: ExperimentConfig) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try! encoder.encode(config), as: UTF8.self)
    }

    // MARK: Reading

    /// The bytes of a config file, or an error saying plainly why there are none: missing, a
    /// folder, not a regular file, unreadable, too large.
    public static func readConfigFile(_ url: URL) throws -> [UInt8] {
        let path = url.path
        func fail(_ message: String) -> ConfigError { ConfigError(source: path, message: message) }
        var info = stat()
        guard stat(path, &info) == 0 else {
            let code = errno
            switch code {
            case ENOENT: throw fail("no such config file")
            case ENOTDIR: throw fail("no such config file (a folder in its path is a file)")
            default: throw fail("cannot read the config file: \(describePOSIX(code))")
            }
        }
        switch info.st_mode & S_IFMT {
        case S_IFDIR: throw fail("\(path) is a folder, not a config file")
        case S_IFREG: break
        default: throw fail("not a regular file: a config is a JSON text file")
        }
        guard Int(info.st_size) <= maxFileBytes else {
            throw fail("the file is \(info.st_size) bytes; "
                       + "a config file is JSON text of at most \(maxFileBytes >> 20) MB")
        }
        guard access(path, R_OK) == 0 else { throw fail("cannot read the config file: \(describePOSIX(errno))") }
        do { return [UInt8](try Data(contentsOf: url)) } catch {
            throw fail("cannot read the config file (\(error.localizedDescription))")
        }
    }

    /// `strerror` in lower case ("permission denied").
    static func describePOSIX(_ code: Int32) -> String {
        let text = String(cString: strerror(code))
        return text.prefix(1).lowercased() + text.dropFirst()
    }

    static func parseJSON(_ bytes: [UInt8], source: String, path: [String] = []) throws -> JSONValue {
        do { return try StrictJSON.parse(bytes, path: path) } catch let error as StrictJSON.TextError {
            throw ConfigError(source: source,
                              message: error.isDuplicateKey ? error.message : "not valid JSON: \(error.message)")
        }
    }

    // MARK: Merging and typing

    /// The keys set by the file and the `--set` items, each checked against its type and
    /// remembered with the source that set it last.
    struct Resolver {
        /// Dotted key -> (value as checked, source that set it last).
        private(set) var leaves: [String: (value: JSONValue, source: String)] = [:]
        var sources: [String: String] { leaves.mapValues(\.source) }

        /// `--set a.b=value`.
        mutating func apply(override item: String) throws {
            let source = "--set \(item)"
            guard let eq = item.firstIndex(of: "="), eq != item.startIndex else {
                throw ConfigError(source: source, message: "expected key.path=value, e.g. --set optim.epochs=50")
            }
            let keyText = item[..<eq]
            let path = keyText.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard !path.contains(where: \.isEmpty) else {
                throw ConfigError(source: source,
                                  message: "'\(keyText)' is not a key path (keys joined by '.', e.g. optim.epochs)")
            }
            let text = String(item[item.index(after: eq)...])
            let value: JSONValue
            do { value = try StrictJSON.parse(Array(text.utf8), path: path) } catch let error as StrictJSON.TextError {
                // Text that is not JSON is a string, unless it was meant as an object or a list.
                let first = text.first { !$0.isWhitespace }
                if error.isDuplicateKey || first == "{" || first == "[" {
                    let message = error.isDuplicateKey ? error.message : "not valid JSON: \(error.message)"
                    throw ConfigError(source: source, message: message)
                }
                value = .string(text)
            }
            try assign(value, at: path, source: source, rawText: text)
        }

        /// Sets `value` at `path` (dotted key components from the root); an object given for a
        /// section sets the keys it names and leaves the others.
        mutating func assign(_ value: JSONValue, at path: [String], source: String, rawText: String? = nil) throws {
            var schema = ConfigSchema.root
            for (depth, key) in path.enumerated() {
                let dotted = path[...depth].joined(separator: ".")
                guard case .section(let fields) = schema else {
                    let parent = path[..<depth].joined(separator: ".")
                    throw ConfigError(source: source, message: "key '\(parent)' is not a section, "
                                      + "cannot set '\(path.joined(separator: "."))'")
                }
                guard let field = fields.first(where: { $0.key == key }) else {
                    throw ConfigError(source: source,
                                      message: "unknown key '\(dotted)'" + Self.hint(for: key, among: fields))
                }
                schema = field.schema
            }
            let dotted = path.joined(separator: ".")
            if case .section = schema {
                guard case .object(let members) = value else {
                    let name = path.isEmpty ? "the config" : "key '\(dotted)'"
                    throw ConfigError(source: source,
                                      message: "\(name) is a section; give an object, not \(value.shortDescription)")
                }
                for member in members { try assign(member.value, at: path + [member.key], source: source) }
                return
            }
            var given = value
            if case .string = schema, let rawText, !given.isString { given = .string(rawText) }
            do {
                leaves[dotted] = (try schema.check(given, key: dotted), source)
            } catch let error as ConfigSchema.ValueError {
                throw ConfigError(source: source, message: error.message)
            }
        }

        /// " (did you mean 'kind'?)", or how to write a dotted key in a file, or "".
        static func hint(for key: String, among fields: [(key: String, schema: ConfigSchema)]) -> String {
            if let near = ConfigLoader.closest(key, in: fields.map(\.key)) { return " (did you mean '\(near)'?)" }
            let parts = key.split(separator: ".", maxSplits: 1).map(String.init)
            if parts.count == 2, let field = fields.first(where: { $0.key == parts[0] }), case .section = field.schema {
                return " (in a file, nest it: \"\(parts[0])\": {\"\(parts[1])\": ...})"
            }
            return ""
        }

        /// The defaults with every set key replaced, decoded.
        func decode(fallback: String) throws -> ExperimentConfig {
            func replaced(_ value: JSONValue, _ prefix: String) -> JSONValue {
                if let leaf = leaves[prefix] { return leaf.value }
                guard case .object(let members) = value else { return value }
                return .object(members.map { m in
                    JSONValue.Member(key: m.key,
                                     value: replaced(m.value, prefix.isEmpty ? m.key : "\(prefix).\(m.key)"),
                                     offset: m.offset)
                })
            }
            let text = replaced(ConfigSchema.defaults, "").text
            do {
                return try JSONDecoder().decode(ExperimentConfig.self, from: Data(text.utf8))
            } catch let error as DecodingError {
                // Not expected (every value was checked against its type): name the key anyway.
                let (path, detail): ([CodingKey], String) = {
                    switch error {
                    case .typeMismatch(_, let c), .valueNotFound(_, let c), .keyNotFound(_, let c),
                         .dataCorrupted(let c):
                        return (c.codingPath, c.debugDescription)
                    @unknown default: return ([], "\(error)")
                    }
                }()
                let key = path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
                    .replacingOccurrences(of: ".[", with: "[")
                let root = key.split(whereSeparator: { $0 == "[" }).first.map(String.init) ?? key
                throw ConfigError(source: leaves[root]?.source ?? fallback,
                                  message: "\(key.isEmpty ? "the config" : key): \(detail)")
            }
        }
    }

    static func closest(_ key: String, in candidates: [String]) -> String? {
        guard key.count <= 200 else { return nil }
        func distance(_ a: String, _ b: String) -> Int {
            let a = Array(a), b = Array(b)
            var row = Array(0...b.count)
            for i in 1...max(a.count, 1) where !a.isEmpty {
                var previous = row[0]
                row[0] = i
                for j in 1...max(b.count, 1) where !b.isEmpty {
                    let cost = a[i - 1] == b[j - 1] ? 0 : 1
                    let next = min(row[j] + 1, row[j - 1] + 1, previous + cost)
                    previous = row[j]
                    row[j] = next
                }
            }
            return row[b.count]
        }
        let best = candidates.map { ($0, distance(key, $0)) }.min { $0.1 < $1.1 }
        return best.flatMap { $0.1 <= max(2, key.count / 3) ? $0.0 : nil }
    }
}
