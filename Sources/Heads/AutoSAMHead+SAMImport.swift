import TensorFiles
import Tensors

/// What `AutoSAMHead.initialiseFromSAM` did with every `mask_decoder.*` key: the reference's rule
/// is not a complete load (keys are excluded by name, SAM has more hypernetworks than the head),
/// so this says where each key went rather than being a `LoadReport`.
public struct SAMImportReport: CustomStringConvertible, Equatable, Sendable {
    public var file: String
    /// Head tensors overwritten with the checkpoint's values, in checkpoint order.
    public var copied: [String] = []
    /// Checkpoint keys skipped by the reference's rule (names containing `iou` or `mask_tokens`).
    public var excluded: [String] = []
    /// Checkpoint keys the head does not have (SAM's hypernetwork MLPs 2 and 3).
    public var unused: [String] = []
    /// Trainable head tensors not in the checkpoint or excluded: they keep their initialisation.
    public var kept: [String] = []

    public var description: String {
        var lines = ["\(file): \(copied.count) mask decoder tensors copied into the AutoSAM head"]
        func add(_ title: String, _ names: [String]) {
            if !names.isEmpty { lines.append("  \(title): " + names.joined(separator: ", ")) }
        }
        add("not copied (reference rule, 'iou' / 'mask_tokens')", excluded)
        add("not in the head", unused)
        add("kept from the seeded initialisation", kept)
        return lines.joined(separator: "\n")
    }
}

extension AutoSAMHead {
    /// Copies SAM's decoder weights into `state` by the reference's rule (FIXTURES quirk 4,
    /// AutoSAM models/build_autosam_seg_model.py @ 50a6ff4): a `mask_decoder.*` key is copied iff
    /// the head has it and its name contains neither `iou` nor `mask_tokens`. So the transformer,
    /// the upscaling and `output_hypernetworks_mlps.0/1` (SAM's first two of four) come from SAM;
    /// the tokens, the IoU head and the positional matrix keep their seeded values.
    /// All or nothing: throws a `LoadError` (and changes nothing) listing every copied key that
    /// has another shape, or, if no key fits at all, the head tensors it looked for.
    @discardableResult
    public func initialiseFromSAM(archive: any TensorArchive, into state: inout TrainableState) throws
        -> SAMImportReport {
        precondition(state.layout == layout, "the state does not belong to this head")
        func excluded(_ name: String) -> Bool { name.contains("iou") || name.contains("mask_tokens") }
        let scope = "mask_decoder.", source = "\(archive.path) [\(scope)*]"
        let names = archive.names.filter { $0.hasPrefix(scope) }
        let given = try names.filter { !excluded($0) }.map { (name: $0, shape: try archive.info($0).shape) }
        let wanted = layout.entries.filter { !excluded($0.name) }.map { (name: $0.name, shape: $0.shape) }
        let found = LoadReport(expected: wanted, given: given)
        guard found.misshaped.isEmpty else {
            throw LoadError(source: source, report: LoadReport(misshaped: found.misshaped),
                            hint: "build the head with AutoSAMHeadConfig.inferred(from:) on the same checkpoint")
        }
        guard !found.loaded.isEmpty else {
            throw LoadError(source: source, report: LoadReport(missing: found.missing),
                            hint: "no mask_decoder.* tensor fits the AutoSAM head; is it a SAM checkpoint?")
        }
        let values = try found.loaded.map { ($0, try archive.finiteTensor($0)) }
        for (name, value) in values { state.setParameter(name, value) }
        let copied = Set(found.loaded)
        return SAMImportReport(file: archive.path, copied: found.loaded, excluded: names.filter(excluded),
                               unused: found.unused.map(\.name), kept: layout.names.filter { !copied.contains($0) })
    }
}

extension AutoSAMHead {
    public var startsFromSAM: Bool { true }

    /// The mask decoder starts from SAM's weights by the reference's rule (DESIGN §3.3).
    public func initialise(_ state: inout TrainableState, fromSAM archive: any TensorArchive) throws -> [String] {
        try initialiseFromSAM(archive: archive, into: &state).copied
    }
}
