import Config
import Foundation
import SAM

extension CheckpointInspection {
    /// The human-readable report `autosam inspect` prints.
    public func report() -> String {
        var lines = [
            row("file", path),
            row("format", "\(format.rawValue), \(grouped(fileSize)) bytes"),
            row("sha256", sha256),
            row("model", modelType),
        ]
        if let encoder {
            lines.append(row("image encoder", encoder.description))
            if encoder.presetName == nil {
                let closest = Self.closestPreset(to: encoder)
                lines.append(row("", "differs from \(closest.name) in " + closest.differences.joined(separator: ", ")))
            }
        }
        if let p = promptEncoder {
            lines.append(row("prompt encoder", "dim \(p.embedDim), "
                             + "embedding grid \(p.embeddingHeight)x\(p.embeddingWidth), "
                             + "input \(p.inputHeight)x\(p.inputWidth), mask_in_chans \(p.maskInChans)"))
        }
        if let d = maskDecoder {
            let t = d.transformer
            lines.append(row("mask decoder", "transformer depth \(t.depth), dim \(t.embeddingDim), mlp \(t.mlpDim), "
                             + "\(d.numMultimaskOutputs) multimask outputs, "
                             + "IoU head depth \(d.iouHeadDepth) hidden \(d.iouHeadHiddenDim) "
                             + "(attention heads are not stored in checkpoints)"))
        }
        if let s = training {
            lines.append(row("training", "seed \(s.seed), epoch \(s.epoch) (step \(s.step)), "
                             + "best epoch \(s.bestEpoch), world size \(s.worldSize), run '\(s.config.name)'"))
            lines.append(row("head", "kind \(s.config.head.kind), depth \(s.config.head.depth), "
                             + "channels \(s.config.head.channels), classes \(s.config.data.classes); encoder "
                             + (s.config.head.kind == .unet ? "none (raw slices)"
                                : s.config.encoder.checkpoint.isEmpty ? "random \(s.config.encoder.preset)"
                                : s.config.encoder.checkpoint)))
        }
        lines.append(row("parameters", "\(grouped(parameterCount)) in \(parts.reduce(0) { $0 + $1.tensors }) tensors"))
        for part in parts {
            lines.append(row("", part.name.padding(toLength: 16, withPad: " ", startingAt: 0)
                             + grouped(part.parameters).leftPadded(13) + "  (\(part.tensors) tensors)"))
        }
        lines.append(row("dtypes", dtypes.map { "\($0.dtype.rawValue) x \($0.tensors)" }.joined(separator: ", ")))
        lines += notes.map { row("note", $0) }
        lines += problems.map { row("PROBLEM", $0) }
        return lines.joined(separator: "\n") + "\n"
    }

    private func row(_ label: String, _ value: String) -> String {
        (label.isEmpty ? "" : label + ":").padding(toLength: 16, withPad: " ", startingAt: 0) + value
    }

    private func grouped(_ n: Int) -> String {
        let digits = Array(String(n))
        return String(digits.enumerated().flatMap { i, d in (i > 0 && (digits.count - i) % 3 == 0) ? [",", d] : [d] })
    }
}

private extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
