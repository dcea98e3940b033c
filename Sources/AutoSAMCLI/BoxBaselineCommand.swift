import ArgumentParser
import Collectives
import Foundation
import Metrics
import Training

/// `autosam baseline-box`: the paper's zero-shot SAM baseline with ground-truth box prompts.
struct BoxBaselineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "baseline-box",
        abstract: "Zero-shot SAM with ground-truth box prompts on the test set (no training).",
        discussion: """
        Needs a full SAM checkpoint (encoder.checkpoint: image encoder, prompt encoder and mask decoder). Uses the \
        config's data, split and fold and scores every test volume like `autosam train` (standard mode). Per slice \
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

    @Option(help: "Input path: reference (the reference's [0,1] images through SAM's normalisation) or corrected.")
    var input: String = "reference"

    @Option(help: "Heads of the mask decoder's two-way transformer (8 in every SAM release).")
    var decoderHeads: Int = 8

    @Option(help: "Score only the first N test volumes.")
    var maxVolumes: Int?

    @Option(help: "Folder for <volume>_pred.nii.gz label maps and volumes.csv (nothing is written without it).")
    var out: String?

    @Option(help: "Metrics shown in the table, comma separated: dice, assd, hd95, hd.")
    var metrics: String = "dice,assd"

    func validate() throws {
        guard BoxInputPath(rawValue: input) != nil else {
            throw ValidationError("--input must be reference or corrected, got '\(input)'")
        }
        guard decoderHeads >= 1 else { throw ValidationError("--decoder-heads must be at least 1") }
        if let maxVolumes, maxVolumes < 1 { throw ValidationError("--max-volumes must be at least 1") }
        _ = try TableMetrics.parse(metrics)
    }

    func run() throws {
        let config = try options.load()
        configureThreads(config)
        let path = BoxInputPath(rawValue: input)!
        let baseline = try BoxBaseline(config: config, inputPath: path, decoderHeads: decoderHeads)
        let experiment = Experiment(config: config, world: SingleProcessCommunicator(),
                                    encoderFactory: { try SliceEncoders.make($0) })
        let data = try experiment.prepareData()
        print("SAM checkpoint: \(config.encoder.checkpoint); input path: \(path.rawValue)")
        let result = try baseline.run(data.test, classes: config.data.classes, maxVolumes: maxVolumes) { volume in
            print("  \(volume.name): \(volume.depth) slices of \(volume.height) x \(volume.width)")
        }
        let label = "SAM box (\(path.rawValue))"
        print(ResultsTable(rows: [.init(label: label, summary: result.summary)], metrics: try TableMetrics.parse(metrics)).render(), terminator: "")
        if let out {
            try BoxBaseline.write(result, classes: config.data.classes, to: URL(fileURLWithPath: out))
            print("wrote \(result.predictions.count) prediction(s) and volumes.csv to \(out)")
        }
    }
}
