/// Named views into one flat float buffer: a head's parameters, gradients and Adam moments are each
/// one contiguous buffer with this layout, so the all-reduce, the optimiser and checkpoints see a
/// single array (llm.c style) while layers see named tensors.
public struct ParameterLayout: Codable, Equatable, Sendable {
    public struct Entry: Codable, Equatable, Sendable {
        public let name: String
        public let shape: [Int]
        public let offset: Int
        public var count: Int { shape.reduce(1, *) }
    }

    public private(set) var entries: [Entry] = []
    public private(set) var totalCount = 0
    private var index: [String: Int] = [:]

    public init(_ parameters: [(name: String, shape: [Int])] = []) {
        for p in parameters { append(p.name, shape: p.shape) }
    }

    /// Adds a parameter at the end of the buffer and returns its offset.
    @discardableResult
    public mutating func append(_ name: String, shape: [Int]) -> Int {
        precondition(index[name] == nil, "duplicate parameter name \(name)")
        let entry = Entry(name: name, shape: shape, offset: totalCount)
        index[name] = entries.count
        entries.append(entry)
        totalCount += entry.count
        return entry.offset
    }

    public func entry(_ name: String) -> Entry? { index[name].map { entries[$0] } }

    public var names: [String] { entries.map(\.name) }

    /// Copies `name`'s slice of `buffer` out as a tensor.
    public func tensor(_ name: String, in buffer: [Float]) -> Tensor {
        guard let e = entry(name) else { preconditionFailure("no parameter \(name)") }
        return Tensor(shape: e.shape, data: Array(buffer[e.offset ..< e.offset + e.count]))
    }

    /// `values` (laid out by this layout) with every given tensor that fits written over its entry,
    /// and the report of what fitted, what is missing (entries keep their value from `values`),
    /// unused (names the layout lacks) and mis-shaped. Writes nothing for a tensor that does not
    /// fit and never stops early; the caller decides with `report.check(source:requireAll:)`.
    public func filled(_ values: [Float], with tensors: [(String, Tensor)]) -> (values: [Float], report: LoadReport) {
        precondition(values.count == totalCount, "\(values.count) values for a layout of \(totalCount)")
        let report = LoadReport(expected: entries.map { ($0.name, $0.shape) },
                                given: tensors.map { ($0.0, $0.1.shape) })
        let fits = Set(report.loaded)
        var out = values
        for (name, tensor) in tensors where fits.contains(name) {
            guard let e = entry(name) else { continue }
            out.replaceSubrange(e.offset ..< e.offset + e.count, with: tensor.data)
        }
        return (out, report)
    }

    private enum CodingKeys: String, CodingKey { case entries }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let list = try c.decode([Entry].self, forKey: .entries)
        self.init(list.map { ($0.name, $0.shape) })
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(entries, forKey: .entries)
    }
}
