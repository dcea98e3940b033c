import Tensors

extension TensorArchive {
    /// Compares the archive with the tensors a model expects, from the shapes alone (nothing is
    /// read): the archive's tensors considered are the expected names and every name under
    /// `scope` (e.g. `mask_decoder.`), so keys of other parts of a SAM checkpoint are not unused.
    /// `loaded` lists the names that fit, in file order: the caller reads those after
    /// `LoadReport.check(source:requireAll:)` accepts the report.
    public func loadReport(expected: [(name: String, shape: [Int])], scope: String) throws -> LoadReport {
        let wanted = Set(expected.map(\.name))
        let given = try names.filter { $0.hasPrefix(scope) || wanted.contains($0) }.map { name in
            (name: name, shape: try info(name).shape)
        }
        return LoadReport(expected: expected, given: given)
    }
}
