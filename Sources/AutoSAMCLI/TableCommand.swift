import ArgumentParser
import Baselines
import Config
import Embeddings
import Evaluation
import Experiments
import Foundation
import Runs
import Training

/// `autosam table RUN...`: the results of finished runs side by side.
struct TableCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "table",
        abstract: "Print finished runs side by side, one row per run (mean ± std over its seeds).",
        discussion: """
        Each RUN is an output folder of `autosam train` (it reads RUN/summary.json). With the runs of \
        configs/paper and configs/baselines this prints the paper's Table 1 layout, e.g. \
        `autosam table runs/autosam_vit_b_train1 runs/cnn_vit_b_train1 runs/unet_train1`.
        """
    )

    @Argument(help: "Run folders written by `autosam train`.")
    var runs: [String]

    @Option(help: "Metrics to show, comma separated: dice, assd, hd95, hd.")
    var metrics: String = "dice,assd"

    func run() throws {
        let summaries = try runs.map { try RunSummary.read(run: URL(fileURLWithPath: $0)) }
        print(RunSummary.comparison(summaries, metrics: try TableMetrics.parse(metrics)).render(), terminator: "")
    }
}
