import Checkpoints
import Foundation
import Optim
import Tensors

/// A head checkpoint problem found while loading: the file, and every tensor that is missing,
/// unexpected or of the wrong shape (STYLE 5).
public struct HeadCheckpointError: Error, CustomStringConvertible, Equatable {
    public struct Mismatch: Equatable, Sendable {
        public let name: String
        public let expected: [Int]
        public let found: [Int]
    }

    public let file: String
    public let missing: [String]
    public let unexpected: [String]
    public let misShaped: [Mismatch]
    /// Other problems (unreadable optimiser metadata).
    public let problems: [String]

    public var description: String {
        var lines = ["\(file): not a checkpoint of this head"]
        if !missing.isEmpty { lines.append("missing tensors: " + missing.joined(separator: ", ")) }
        if !unexpected.isEmpty { lines.append("unexpected tensors: " + unexpected.joined(separator: ", ")) }
        for m in misShaped { lines.append("\(m.name): expected shape \(m.expected), found \(m.found)") }
        lines += problems
        lines.append("hint: the head configuration (type, depth, channels, classes) must match the one that wrote the file")
        return lines.joined(separator: "\n  ")
    }
}

/// Saving and loading a head's state as safetensors under the reference's state-dict names
/// (`mask_decoder.*`, `pe_layer.*`), so files are interchangeable with PyTorch's
/// `state_dict()` of the head. Optionally the Adam state is stored alongside:
/// `optimizer/exp_avg/<name>`, `optimizer/exp_avg_sq/<name>` and metadata `adam.step`,
/// `adam.lr`, `adam.beta1`, `adam.beta2`, `adam.eps` (floats in Swift's round-trip notation).
public enum HeadCheckpoint {
    static let momentPrefixes = ["optimizer/exp_avg/", "optimizer/exp_avg_sq/"]

    /// Writes parameters, frozen tensors and (with `includeOptimizer`) the Adam state, atomically.
    public static func save(_ state: TrainableState, frozen: FrozenState, to url: URL,
                            includeOptimizer: Bool = false, metadata: [String: String] = [:]) throws {
        var tensors = state.layout.names.map { ($0, state.parameter($0)) }
        tensors += frozen.layout.names.map { ($0, frozen.tensor($0)) }
        var meta = metadata
        if includeOptimizer {
            for (prefix, buffer) in zip(momentPrefixes, [state.adam.m, state.adam.v]) {
                tensors += state.layout.names.map { (prefix + $0, state.layout.tensor($0, in: buffer)) }
            }
            let adam = state.adam
            meta["adam.step"] = String(adam.step)
            for (key, value) in [("lr", adam.lr), ("beta1", adam.beta1), ("beta2", adam.beta2), ("eps", adam.eps)] {
                meta["adam." + key] = String(describing: value)
            }
        }
        try SafeTensorsFile.write(tensors, metadata: meta, to: url)
    }

    /// Reads a checkpoint into states whose layouts say what to expect. Every expected tensor
    /// must be present with its shape, and nothing else may be in the file; otherwise a
    /// `HeadCheckpointError` lists all differences and nothing is modified. When the file holds
    /// an Adam state it is restored (returns true); otherwise the optimiser restarts with zero
    /// moments and the current hyper-parameters (returns false). Gradients are zeroed. Returns
    /// the file's metadata too.
    @discardableResult
    public static func load(from url: URL, into state: inout TrainableState, frozen: inout FrozenState) throws
        -> (restoredOptimizer: Bool, metadata: [String: String]) {
        let file = try SafeTensorsFile(contentsOf: url)
        let hasOptimizer = file.names.contains { $0.hasPrefix("optimizer/") }
        var expected = (state.layout.entries + frozen.layout.entries).map { (name: $0.name, shape: $0.shape) }
        if hasOptimizer {
            for prefix in momentPrefixes {
                expected += state.layout.entries.map { (name: prefix + $0.name, shape: $0.shape) }
            }
        }
        try verify(file, expected: expected)
        let adam = try hasOptimizer ? restoredAdam(file, state.layout) : freshAdam(like: state.adam, count: state.layout.totalCount)
        var params = [Float]()
        params.reserveCapacity(state.layout.totalCount)
        for name in state.layout.names { params += try file.tensor(name).data }
        var loadedFrozen = frozen
        for name in frozen.layout.names { loadedFrozen.set(name, try file.tensor(name)) }
        state = TrainableState(layout: state.layout, params: params, adam: adam)
        frozen = loadedFrozen
        return (hasOptimizer, file.metadata)
    }

    /// Throws unless the file holds exactly `expected` (names and shapes).
    static func verify(_ file: SafeTensorsFile, expected: [(name: String, shape: [Int])]) throws {
        let wanted = Set(expected.map(\.name))
        let missing = expected.map(\.name).filter { !file.contains($0) }
        let unexpected = file.names.filter { !wanted.contains($0) }
        let misShaped = expected.compactMap { e -> HeadCheckpointError.Mismatch? in
            guard let found = file.entries[e.name]?.shape, found != e.shape else { return nil }
            return HeadCheckpointError.Mismatch(name: e.name, expected: e.shape, found: found)
        }
        guard missing.isEmpty && unexpected.isEmpty && misShaped.isEmpty else {
            throw HeadCheckpointError(file: file.path, missing: missing, unexpected: unexpected,
                                      misShaped: misShaped, problems: [])
        }
    }

    private static func restoredAdam(_ file: SafeTensorsFile, _ layout: ParameterLayout) throws -> Adam {
        func number<T: LosslessStringConvertible>(_ key: String, _: T.Type) throws -> T {
            guard let text = file.metadata["adam." + key], let value = T(text) else {
                throw HeadCheckpointError(file: file.path, missing: [], unexpected: [], misShaped: [],
                                          problems: ["metadata 'adam.\(key)' is missing or unreadable"])
            }
            return value
        }
        var moments = [[Float]]()
        for prefix in momentPrefixes {
            var buffer = [Float]()
            buffer.reserveCapacity(layout.totalCount)
            for name in layout.names { buffer += try file.tensor(prefix + name).data }
            moments.append(buffer)
        }
        return Adam(lr: try number("lr", Float.self), beta1: try number("beta1", Float.self),
                    beta2: try number("beta2", Float.self), eps: try number("eps", Float.self),
                    m: moments[0], v: moments[1], step: try number("step", Int.self))
    }

    private static func freshAdam(like adam: Adam, count: Int) -> Adam {
        Adam(count: count, lr: adam.lr, beta1: adam.beta1, beta2: adam.beta2, eps: adam.eps)
    }
}
