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

        --ensemble uses every seed of the run together (at least 2): each seed's checkpoint is the one the automatic \
        choice above picks, the encoder runs once per slice, every seed's head runs on that embedding, and the mean \
        over seeds of the class probabilities (softmax per seed) is argmaxed (where all seeds agree, their label). \
        With --input and --out it segments those volumes; without them it segments the run's test split \
        (split.json, data.root), scores it as training's test does and writes DIR/ensemble/predictions/, \
        DIR/ensemble/test_volumes.csv and DIR/ensemble_summary.json, printing the ensemble's Dice beside the seeds'. \
        --uncertainty entropy|disagreement adds <name>_uncertainty.nii.gz (float32, the input's geometry): the \
        entropy of the mean probabilities in nats, or the fraction of seeds whose argmax differs from the \
        ensemble's. Under mpirun the volumes are sharded over the ranks (every rank reads the run folder and the \
        volumes) and the coordinator writes.
        """
    )

    @Option(name: .customLong("run"),
            help: "The training run's output folder (holds config.json and seed_<s>/checkpoints).")
    var runFolder: String

    @Option(help: "Seed whose head to use (default: the config's first seed).")
    var seed: Int?

    @Option(help: "Use this checkpoint folder (…/seed_<s>/checkpoints/epoch_NNNN) instead of the automatic choice.")
    var checkpoint: String?

    @Option(help: "A NIfTI volume (.nii or .nii.gz) or a folder of them (--ensemble without it: the test split).")
    var input: String?

    @Option(help: "Output folder for the predicted masks (created if missing).")
    var out: String?

    @Flag(help: "Average the class probabilities of every seed's head (see the discussion).")
    var ensemble = false

    @Option(help: "With --ensemble: also write <name>_uncertainty.nii.gz, entropy or disagreement.")
    var uncertainty: EnsembleUncertainty?

    func validate() throws {
        guard ensemble else {
            guard input != nil, out != nil else { throw ValidationError("give --input and --out (or --ensemble)") }
            guard uncertainty == nil else { throw ValidationError("--uncertainty needs --ensemble") }
            return
        }
        guard seed == nil, checkpoint == nil else {
            throw ValidationError("--ensemble uses every seed's automatic checkpoint: drop --seed and --checkpoint")
        }
        guard (input == nil) == (out == nil) else {
            throw ValidationError("with --ensemble give both --input and --out, or neither (the run's test split)")
        }
    }

    func run() throws {
        if ensemble { runEnsemble() }
        guard let input, let out else { return }
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
