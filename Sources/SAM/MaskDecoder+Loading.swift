import Checkpoints
import Tensors

// Loading the prompt encoder's and mask decoder's parameters from a checkpoint into one flat
// buffer described by a `ParameterLayout`, with a report of every missing, unused and mis-shaped key.

/// What happened to the keys of one checkpoint scope during loading.
public struct ParameterLoadReport: CustomStringConvertible, Sendable {
    public struct Key: Equatable, Sendable {
        public var name: String
        public var shape: [Int]
    }

    public struct Mismatch: Equatable, Sendable {
        public var name: String
        public var expected: [Int]
        public var found: [Int]
    }

    public var file: String
    /// The checkpoint key prefix that was read, e.g. `mask_decoder.`.
    public var scope: String
    public var loaded: [String] = []
    /// Expected keys absent from the file, with their expected shape.
    public var missing: [Key] = []
    /// Keys of the scope in the file that the model does not have.
    public var unused: [Key] = []
    public var misShaped: [Mismatch] = []

    public var isComplete: Bool { missing.isEmpty && unused.isEmpty && misShaped.isEmpty }

    public var description: String {
        var lines = ["\(file) [\(scope)*]: \(loaded.count) tensors loaded"]
        lines += missing.map { "  missing \($0.name): expected \($0.shape)" }
        lines += unused.map { "  unused \($0.name): \($0.shape)" }
        lines += misShaped.map { "  wrong shape \($0.name): got \($0.found), expected \($0.expected)" }
        return lines.joined(separator: "\n")
    }
}

/// Loading failed: the report lists every problem.
public struct ParameterLoadError: Error, CustomStringConvertible {
    public let report: ParameterLoadReport
    public var description: String {
        "cannot load \(report.scope)* from \(report.file) (is it a SAM checkpoint of this configuration?):\n\(report)"
    }
}

public enum ParameterLoader {
    /// Reads every entry of `layout` (names are checkpoint keys) from `archive` into a new flat
    /// buffer. Keys of the archive that start with `scope` but are not in the layout are unused.
    /// Throws `ParameterLoadError` unless every key is present with its shape and none is unused.
    public static func load(
        _ archive: any TensorArchive, layout: ParameterLayout, scope: String
    ) throws -> (values: [Float], report: ParameterLoadReport) {
        var report = ParameterLoadReport(file: archive.path, scope: scope)
        var values = [Float](repeating: 0, count: layout.totalCount)
        let available = Set(archive.names)
        for entry in layout.entries {
            guard available.contains(entry.name) else {
                report.missing.append(.init(name: entry.name, shape: entry.shape))
                continue
            }
            let found = try archive.info(entry.name).shape
            guard found == entry.shape else {
                report.misShaped.append(.init(name: entry.name, expected: entry.shape, found: found))
                continue
            }
            let tensor = try archive.finiteTensor(entry.name)
            values.replaceSubrange(entry.offset ..< entry.offset + entry.count, with: tensor.data)
            report.loaded.append(entry.name)
        }
        for name in archive.names where name.hasPrefix(scope) && layout.entry(name) == nil {
            report.unused.append(.init(name: name, shape: try archive.info(name).shape))
        }
        guard report.isComplete else { throw ParameterLoadError(report: report) }
        return (values, report)
    }

    /// Shape of `name` in `archive`, or a `CheckpointError` that says which setting needed it.
    static func shape(_ archive: any TensorArchive, _ name: String, for purpose: String) throws -> [Int] {
        guard archive.names.contains(name) else {
            throw CheckpointError(file: archive.path, "no tensor '\(name)', needed to infer \(purpose): not a SAM checkpoint?")
        }
        return try archive.info(name).shape
    }

    /// Number of consecutive indices i = 0, 1, ... for which `key(i)` is in `archive`.
    static func count(_ archive: any TensorArchive, _ key: (Int) -> String) -> Int {
        let names = Set(archive.names)
        var n = 0
        while names.contains(key(n)) { n += 1 }
        return n
    }
}

extension ParameterLayout {
    /// Pointer to `name`'s slice of the flat buffer that starts at `base`.
    func parameterPointer(_ name: String, base: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<Float> {
        guard let e = entry(name) else { preconditionFailure("parameter layout has no entry \(name)") }
        return base + e.offset
    }
}
