import ArgumentParser
import Baselines
import Config
import Embeddings
import Evaluation
import Experiments
import Foundation
import Metrics
import Runs
import Training

/// `autosam evaluate`: score prediction NIfTIs against labels, or re-print a finished run's table.
struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Score a folder of prediction NIfTIs against labels, "
            + "or re-print the results table of a training run.",
        discussion: """
        Folder mode (--predictions DIR --labels DIR): every prediction <name>.nii[.gz] (or <name>_pred.nii[.gz]) is \
        matched by name with a label: the <name>_gt.nii[.gz] files found in the label folder or its subfolders (ACDC \
        layout), or, when there are none, <name>.nii[.gz] directly in the label folder. Each pair must have the same \
        dimensions; the voxel spacing comes from the label's header. Metrics per volume at native resolution and per \
        class (labels 1..classes-1): Dice, and ASSD, HD95 and HD in mm (standard mode: both masks empty gives Dice 1 \
        and distance 0, exactly one empty gives Dice 0 and an undefined distance, left out of the mean and counted) or \
        in voxels ignoring spacing (reference mode, as AutoSAM's evaluate.py). Prints a table shaped like the paper's \
        Table 1; with --out also writes volumes.csv and summary.json there. \
        Run mode (--run DIR): prints the table of a finished `autosam train` run from its summary.json (one row per \
        seed and the mean and std over seeds).
        """
    )

    @Option(help: "Folder of predicted label volumes (.nii or .nii.gz).")
    var predictions: String?

    @Option(help: "Folder of reference label volumes (searched recursively for *_gt files).")
    var labels: String?

    @Option(help: "Number of classes including background (ACDC: 4).")
    var classes: Int = 4

    @Option(help: ArgumentHelp("Names of labels 1..<classes, comma separated (default: RV,Myo,LV for 4 classes, "
                               + "else class 1, class 2, ...)."))
    var classNames: String?

    /// `--class-names` split and checked (one distinct, non-empty name per label), nil when not given.
    private func names() throws -> [String]? {
        guard let classNames else { return nil }
        let names = classNames.split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        guard names.count == classes - 1, !names.contains(where: \.isEmpty), Set(names).count == names.count else {
            throw ValidationError("--class-names must give \(classes - 1) distinct, non-empty names "
                                  + "(labels 1..<\(classes)), got '\(classNames)'")
        }
        return names
    }

    @Option(help: "Evaluation rules: standard (mm, our empty-mask rules) or reference (voxels, AutoSAM's evaluate.py).")
    var mode: String = "standard"

    @Option(help: "Folder for volumes.csv and summary.json (folder mode; nothing is written without it).")
    var out: String?

    @Option(name: .customLong("run"), help: "A finished training run's output folder: re-print its results table.")
    var runFolder: String?

    @Option(help: "Metrics shown in the table, comma separated: dice, assd, hd95, hd.")
    var metrics: String = "dice,assd"

    func validate() throws {
        if runFolder != nil {
            guard predictions == nil, labels == nil, out == nil else {
                throw ValidationError("--run cannot be combined with --predictions, --labels or --out")
            }
        } else {
            guard predictions != nil, labels != nil else {
                throw ValidationError("give --predictions DIR and --labels DIR, or --run DIR")
            }
        }
        guard (2...256).contains(classes) else { throw ValidationError("--classes must be in 2...256") }
        _ = try names()
        guard EvaluationMode(rawValue: mode) != nil else {
            throw ValidationError("--mode must be standard or reference, got '\(mode)'")
        }
        _ = try TableMetrics.parse(metrics)
    }

    func run() throws {
        if let runFolder {
            let summary = try RunSummary.read(run: URL(fileURLWithPath: runFolder))
            print(summary.table(metrics: try TableMetrics.parse(metrics)).render(), terminator: "")
            return
        }
        let (predictionDir, labelDir) = (URL(fileURLWithPath: predictions!), URL(fileURLWithPath: labels!))
        let evaluationMode = EvaluationMode(rawValue: mode)!
        let evaluation = try FolderEvaluation.match(predictions: predictionDir, labels: labelDir)
        print("scoring \(evaluation.pairs.count) volume(s); "
              + "\(evaluation.unmatchedLabels.count) label volume(s) without a prediction left out")
        let scores = try evaluation.evaluate(classes: classes, mode: evaluationMode) { pair in
            print("  \(pair.name): \(pair.prediction.lastPathComponent) vs \(pair.label.path)")
        }
        let report = FolderEvaluationReport(evaluation, predictions: predictionDir, labels: labelDir, classes: classes,
                                            mode: evaluationMode, scores: scores, classNames: try names())
        let label = predictionDir.standardizedFileURL.lastPathComponent
        print(ResultsTable(rows: [.init(label: label, summary: report.summary)],
                           metrics: try TableMetrics.parse(metrics)).render(), terminator: "")
        if let out {
            try FolderEvaluationReport.write(report, scores: scores, to: URL(fileURLWithPath: out))
            print("wrote \(out)/volumes.csv and \(out)/summary.json")
        }
    }
}
