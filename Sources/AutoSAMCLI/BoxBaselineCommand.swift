import ArgumentParser
import Baselines
import Collectives
import Config
import Embeddings
import Evaluation
import Experiments
import Foundation
import Runs
import Training

/// `autosam baseline-box`: the paper's zero-shot SAM baseline with ground-truth box prompts, as a
/// run (the same distributed code path as `autosam train` on a `head.kind = sam_box` config).
struct BoxBaselineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "baseline-box",
        abstract: "Zero-shot SAM with ground-truth box prompts on the test set (no training).",
        discussion: """
        Runs the config as head.kind=sam_box (what `autosam train` does with such a config, e.g. \
        configs/baselines/sam_box_reference.json), one rank or many under mpirun: test volumes are sharded over \
        the ranks, the coordinator scores them like `autosam train` (standard mode, native resolution) and writes \
        config.json, seed_<s>/predictions/, seed_<s>/test_volumes.csv and summary.json (one seed: the baseline is \
        deterministic) to the run folder, so `autosam table` and `autosam suite` include it. \
        Needs a full SAM checkpoint (encoder.checkpoint: image encoder, prompt encoder and mask decoder). Per slice \
        and per class present in the ground truth: the box exactly as AutoSAM's inference.py get_box computes it \
        (border objects give -1 / H+1, several components: the first transition found wins), mapped to the encoder's \
        input frame, SAM's mask decoder with multimask_output=false, the mask resized to the slice and thresholded \
        at 0, then the class masks merged as the reference does (overlaps go to the lowest class). \
        --input reference reproduces the reference's input bug: the [0,1]-scaled slice goes through SAM's 0-255 \
        mean/std normalisation, so the encoder sees an almost constant image. --input corrected maps the slice to \
        0-255 RGB and uses SAM's own ResizeLongestSide, normalisation and padding.
        """
    )

    @OptionGroup var options: ConfigOptions

    @Option(help: ArgumentHelp("Input path: reference (the reference's [0,1] images through SAM's normalisation) "
                               + "or corrected. Default: the config's head.box_input."))
    var input: String?

    @Option(help: ArgumentHelp("Score only the first N test volumes (a partial run: no config.json is saved, "
                               + "so `autosam suite` does not take it as done)."))
    var maxVolumes: Int?

    @Option(help: ArgumentHelp("Run folder. Default: output.dir of a sam_box config; for any other config "
                               + "<output.dir>_sam_box_<input>, so a head's run is never overwritten."))
    var out: String?

    @Option(help: "Metrics shown in the table, comma separated: dice, assd, hd95, hd.")
    var metrics: String = "dice,assd"

    func validate() throws {
        if let input, BoxInputPath(rawValue: input) == nil {
            throw ValidationError("--input must be reference or corrected, got '\(input)'")
        }
        if let maxVolumes, maxVolumes < 1 { throw ValidationError("--max-volumes must be at least 1") }
        _ = try TableMetrics.parse(metrics)
    }

    /// The loaded config turned into a sam_box run config.
    func boxConfig() throws -> ExperimentConfig {
        var config = try options.load()
        if let input, let path = BoxInputPath(rawValue: input) { config.head.box_input = path }
        if config.head.kind != .samBox {
            config.head.kind = .samBox
            config.name = "\(config.name)_sam_box_\(config.head.box_input)"
            config.output.dir = "\(config.output.dir)_sam_box_\(config.head.box_input)"
        }
        if let out { config.output.dir = out }
        return config
    }

    func run() throws {
        let config = try boxConfig()
        let tableMetrics = try TableMetrics.parse(metrics)
        RankedJob.run { world in
            configureThreads(config)
            let experiment = Experiment(config: config, world: world) { try SliceEncoders.make($0) }
            if world.isCoordinator {
                try experiment.createOutputFolder()
                // config.json marks a complete run of the config (`autosam suite` skips those); a
                // --max-volumes run is partial.
                let saved = experiment.outputDir.appendingPathComponent("config.json")
                if maxVolumes == nil {
                    try RunFolder.writeConfig(config, to: experiment.outputDir)
                } else if FileManager.default.fileExists(atPath: saved.path) {
                    try FileManager.default.removeItem(at: saved)
                }
                experiment.log.info("\(world.size) rank(s); run folder \(config.output.dir)")
            }
            try experiment.runBoxBaseline(maxVolumes: maxVolumes, metrics: tableMetrics)
        }
    }
}
