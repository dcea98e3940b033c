import ArgumentParser
import Baselines
import Config
import Embeddings
import Evaluation
import Experiments
import Foundation
import Runs
import Training

/// `autosam predict`: a trained head plus the frozen encoder on new volumes, no labels needed.
struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Segment new NIfTI volumes with a trained run; masks are written with the input's header and affine.",
        discussion: """
        Loads the run's resolved config (DIR/config.json) and one checkpoint of one seed (--seed, default the config's \
        first): the newest complete checkpoint that verifies, or the best-validation one when the config tests the \
        best model (optim.test_model best), as testing did; --checkpoint epoch_NNNN picks one explicitly. The encoder \
        is the one the config names (a SAM checkpoint, or the seeded random preset of a demo). Each input volume is \
        z-scored as in training, every slice resized to data.slice_size and encoded, the head's logits resized back to \
        the native slice size and argmaxed. Writes OUT/<name>.nii.gz (uint8 labels 0..classes-1) with the input's \
        header and affine, one file per input; all inputs are read and checked before anything is written, and each \
        output is written atomically.
        """
    )

    @Option(name: .customLong("run"),
            help: "The training run's output folder (holds config.json and seed_<s>/checkpoints).")
    var runFolder: String

    @Option(help: "Seed whose head to use (default: the config's first seed).")
    var seed: Int?

    @Option(help: "Use this checkpoint folder (…/seed_<s>/checkpoints/epoch_NNNN) instead of the automatic choice.")
    var checkpoint: String?

    @Option(help: "A NIfTI volume (.nii or .nii.gz) or a folder of them.")
    var input: String

    @Option(help: "Output folder for the predicted masks (created if missing).")
    var out: String

    func run() throws {
        let prediction = try RunPrediction(run: URL(fileURLWithPath: runFolder), seed: seed,
                                           checkpoint: checkpoint.map { URL(fileURLWithPath: $0) })
        configureThreads(prediction.config)
        for damaged in prediction.skipped { print("skipped damaged checkpoint: \(damaged)") }
        let s = prediction.checkpoint.state
        print("head: \(prediction.config.head.kind), seed \(prediction.seed), epoch \(s.epoch) "
              + "(\(prediction.checkpointFolder.path))")
        let inputs = try RunPrediction.inputs(URL(fileURLWithPath: input))
        let written = try prediction.predict(inputs, to: URL(fileURLWithPath: out), encoderFactory: { config in
            let encoder = try SliceEncoders.make(config)
            print("encoder: \(SliceEncoders.describe(encoder))")
            return encoder
        }, progress: { print($0) })
        print("wrote \(written.count) mask(s) to \(out)")
    }
}
