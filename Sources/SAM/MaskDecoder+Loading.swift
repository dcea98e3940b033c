import TensorFiles
import Tensors

// Loading the prompt encoder's and mask decoder's parameters from a checkpoint into one flat
// buffer described by a `ParameterLayout`, with a `LoadReport` of every missing, unused and
// mis-shaped key.

public enum ParameterLoader {
    /// Reads every entry of `layout` (names are checkpoint keys) from `archive` into a new flat
    /// buffer. Keys of the archive that start with `scope` but are not in the layout are unused.
    /// Throws a `LoadError` (source `<file> [<scope>*]`) listing every missing, unused and
    /// mis-shaped key unless every key is present with its shape and none is unused; nothing is
    /// read then.
    public static func load(
        _ archive: any TensorArchive, layout: ParameterLayout, scope: String
    ) throws -> (values: [Float], report: LoadReport) {
        let report = try archive.loadReport(expected: layout.entries.map { ($0.name, $0.shape) }, scope: scope)
        try report.check(source: "\(archive.path) [\(scope)*]",
                         hint: "is it a SAM checkpoint of this configuration?")
        var values = [Float](repeating: 0, count: layout.totalCount)
        for name in report.loaded {
            guard let entry = layout.entry(name) else { continue }
            let tensor = try archive.finiteTensor(name)
            values.replaceSubrange(entry.offset ..< entry.offset + entry.count, with: tensor.data)
        }
        return (values, report)
    }

    /// Shape of `name` in `archive`, or a `CheckpointError` that says which setting needed it.
    static func shape(_ archive: any TensorArchive, _ name: String, for purpose: String) throws -> [Int] {
        guard archive.names.contains(name) else {
            throw CheckpointError(file: archive.path,
                                  "no tensor '\(name)', needed to infer \(purpose): not a SAM checkpoint?")
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
