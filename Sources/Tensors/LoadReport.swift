/// What a loader found when filling named tensors into an expected layout (a model's key table, a
/// head's `ParameterLayout`): the tensors that fit, the expected ones that are absent, the given
/// ones nothing expects, and the ones whose shape differs. Loaders collect every problem before
/// deciding, so one failed load names all of them rather than the first (STYLE 5).
///
/// Shapes: `missing` carry the expected shape, `unused` the given one, `misshaped` both.
public struct LoadReport: Equatable, Sendable, CustomStringConvertible {
    /// A tensor by name and shape.
    public struct Entry: Equatable, Sendable, CustomStringConvertible {
        public var name: String
        public var shape: [Int]

        public init(name: String, shape: [Int]) { (self.name, self.shape) = (name, shape) }

        public var description: String { "\(name) \(shape)" }
    }

    /// An expected tensor given with another shape.
    public struct Misshaped: Equatable, Sendable, CustomStringConvertible {
        public var name: String
        public var expected: [Int]
        public var found: [Int]

        public init(name: String, expected: [Int], found: [Int]) {
            (self.name, self.expected, self.found) = (name, expected, found)
        }

        public var description: String { "\(name): expected \(expected), found \(found)" }
    }

    /// Names that fit (expected, given, same shape), in the order given: the tensors written.
    public var loaded: [String]
    /// Expected tensors that were not given, in the expected order.
    public var missing: [Entry]
    /// Given tensors that nothing expects, in the order given.
    public var unused: [Entry]
    /// Expected tensors given with another shape, in the order given.
    public var misshaped: [Misshaped]

    public init(loaded: [String] = [], missing: [Entry] = [], unused: [Entry] = [], misshaped: [Misshaped] = []) {
        (self.loaded, self.missing, self.unused, self.misshaped) = (loaded, missing, unused, misshaped)
    }

    /// Compares the `given` tensors with the `expected` ones by name and shape. Names are
    /// distinct within each list.
    public init(expected: [(name: String, shape: [Int])], given: [(name: String, shape: [Int])]) {
        self.init()
        var wanted: [String: [Int]] = [:]
        for e in expected { wanted[e.name] = e.shape }
        var seen = Set<String>()
        for g in given {
            seen.insert(g.name)
            switch wanted[g.name] {
            case nil: unused.append(Entry(name: g.name, shape: g.shape))
            case g.shape?: loaded.append(g.name)
            case let shape?: misshaped.append(Misshaped(name: g.name, expected: shape, found: g.shape))
            }
        }
        missing = expected.filter { !seen.contains($0.name) }.map { Entry(name: $0.name, shape: $0.shape) }
    }

    /// Every expected tensor fitted and nothing else was given.
    public var isComplete: Bool { missing.isEmpty && unused.isEmpty && misshaped.isEmpty }

    /// The problems that fail a load: mis-shaped and unused tensors always, missing ones only when
    /// every expected tensor is required. `loaded` is left empty.
    public func failures(requireAll: Bool) -> LoadReport {
        LoadReport(missing: requireAll ? missing : [], unused: unused, misshaped: misshaped)
    }

    /// Throws a `LoadError` naming `source` (a file, or a file and the scope read from it) that
    /// lists all of `failures(requireAll:)`, unless there are none. `hint` says what to check.
    public func check(source: String, requireAll: Bool = true, hint: String? = nil) throws {
        let failing = failures(requireAll: requireAll)
        guard failing.isComplete else { throw LoadError(source: source, report: failing, hint: hint) }
    }

    /// Items shown per list; longer lists end with "and N more", so a report of a wrong file
    /// (thousands of unused keys) stays readable.
    public static let shownPerList = 20

    /// One line per non-empty list: "missing 2: a [3], b [4, 4]"; a count of the loaded tensors
    /// first when there are any.
    public var description: String {
        var lines = loaded.isEmpty ? [] : ["loaded \(loaded.count)"]
        func add(_ title: String, _ items: [some CustomStringConvertible]) {
            guard !items.isEmpty else { return }
            let shown = items.prefix(Self.shownPerList).map(\.description).joined(separator: ", ")
            let more = items.count > Self.shownPerList ? " and \(items.count - Self.shownPerList) more" : ""
            lines.append("\(title) \(items.count): \(shown)\(more)")
        }
        add("missing", missing)
        add("unused", unused)
        add("wrong shape", misshaped)
        return lines.isEmpty ? "nothing loaded" : lines.joined(separator: "\n")
    }
}

/// A load that `LoadReport.check` refused: the source, every problem that counts, and a hint.
public struct LoadError: Error, Equatable, CustomStringConvertible {
    /// The file (or file and scope, e.g. `sam.pth [mask_decoder.*]`) the tensors came from.
    public let source: String
    /// The failing problems only (`LoadReport.failures(requireAll:)`).
    public let report: LoadReport
    /// What the user can check or do (for example the configuration that must match), or nil.
    public let hint: String?

    public init(source: String, report: LoadReport, hint: String? = nil) {
        (self.source, self.report, self.hint) = (source, report, hint)
    }

    public var description: String {
        let lines = report.description.split(separator: "\n").map { "  " + $0 }
        let hintLine = hint.map { ["  hint: " + $0] } ?? []
        return (["\(source): the tensors do not fit the model:"] + lines + hintLine).joined(separator: "\n")
    }
}
