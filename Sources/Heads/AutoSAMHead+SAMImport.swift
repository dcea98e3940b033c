import Checkpoints
import Tensors

/// What `AutoSAMHead.initialiseFromSAM` did with every `mask_decoder.*` key.
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
        if !excluded.isEmpty { lines.append("  not copied (reference rule, 'iou' / 'mask_tokens'): " + excluded.joined(separator: ", ")) }
        if !unused.isEmpty { lines.append("  not in the head: " + unused.joined(separator: ", ")) }
        if !kept.isEmpty { lines.append("  kept from the seeded initialisation: " + kept.joined(separator: ", ")) }
        return lines.joined(separator: "\n")
    }
}

/// A SAM checkpoint whose mask decoder does not fit the head: every mis-shaped key, or nothing usable.
public struct SAMImportError: Error, CustomStringConvertible, Equatable {
    public struct Mismatch: Equatable, Sendable {
        public let name: String
        public let expected: [Int]
        public let found: [Int]
    }

    public let file: String
    public let misShaped: [Mismatch]

    public var description: String {
        guard !misShaped.isEmpty else {
            return "\(file): no mask_decoder.* tensor fits the AutoSAM head; is it a SAM checkpoint?"
        }
        let lines = misShaped.map { "  \($0.name): head expects \($0.expected), checkpoint has \($0.found)" }
        return (["\(file): the SAM mask decoder does not fit the AutoSAM head:"] + lines
            + ["  hint: build the head with AutoSAMHeadConfig.inferred(from:) on the same checkpoint"]).joined(separator: "\n")
    }
}

extension AutoSAMHead {
    /// Copies SAM's decoder weights into `state` by the reference's rule (FIXTURES quirk 4,
    /// AutoSAM models/build_autosam_seg_model.py @ 50a6ff4): a `mask_decoder.*` key is copied iff
    /// the head has it and its name contains neither `iou` nor `mask_tokens`. So the transformer,
    /// the upscaling and `output_hypernetworks_mlps.0/1` (SAM's first two of four) come from SAM;
    /// the tokens, the IoU head and the positional matrix keep their seeded values.
    /// All or nothing: throws `SAMImportError` (and changes nothing) if any copied key has
    /// another shape, or if no key fits at all.
    @discardableResult
    public func initialiseFromSAM(archive: any TensorArchive, into state: inout TrainableState) throws -> SAMImportReport {
        precondition(state.layout == layout, "the state does not belong to this head")
        var report = SAMImportReport(file: archive.path)
        var misShaped: [SAMImportError.Mismatch] = []
        var values: [(String, Tensor)] = []
        for name in archive.names where name.hasPrefix("mask_decoder.") {
            if name.contains("iou") || name.contains("mask_tokens") {
                report.excluded.append(name)
                continue
            }
            guard let entry = layout.entry(name) else {
                report.unused.append(name)
                continue
            }
            let found = try archive.info(name).shape
            guard found == entry.shape else {
                misShaped.append(.init(name: name, expected: entry.shape, found: found))
                continue
            }
            values.append((name, try archive.finiteTensor(name)))
            report.copied.append(name)
        }
        guard misShaped.isEmpty && !values.isEmpty else { throw SAMImportError(file: archive.path, misShaped: misShaped) }
        for (name, value) in values { state.setParameter(name, value) }
        let copied = Set(report.copied)
        report.kept = layout.names.filter { !copied.contains($0) }
        return report
    }
}
