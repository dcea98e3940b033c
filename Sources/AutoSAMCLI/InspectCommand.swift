import ArgumentParser
import Baselines
import Config
import Embeddings
import Evaluation
import Experiments
import Foundation
import Runs
import Training

/// `autosam inspect`: what a checkpoint file holds, and whether it is usable.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Describe a checkpoint: model type, configuration, parameters per part, dtypes, size and SHA-256.",
        discussion: """
        Reads a .pth (torch.save ZIP) or .safetensors file, chosen by content, and reads every tensor once, so a \
        damaged file fails here naming the file and the tensor. A SAM checkpoint is reported as vit_b, vit_l or vit_h \
        when the image-encoder configuration inferred from its shapes equals a preset, otherwise as a custom \
        SAM-shaped model with its differences from the closest preset; its keys are checked against the image encoder, \
        prompt encoder and mask decoder key tables. A head.safetensors written by `autosam train` (params/..., \
        frozen/...) is recognised, with the training state from the state.json beside it. Any other file is rejected \
        as not a SAM checkpoint. \
        Exit status: 0 when the file is readable and usable; non-zero when it is damaged, not a checkpoint we know, or \
        when the report lists problems (missing or mis-shaped keys, non-finite values, checksum mismatch).
        """
    )

    @Argument(help: "Checkpoint file (.pth or .safetensors).")
    var checkpoint: String

    func run() throws {
        let inspection = try CheckpointInspection.inspect(URL(fileURLWithPath: checkpoint))
        print(inspection.report(), terminator: "")
        guard inspection.problems.isEmpty else {
            throw RunFileError(path: checkpoint, message: "\(inspection.problems.count) problem(s): "
                                  + inspection.problems.joined(separator: "; "))
        }
    }
}
