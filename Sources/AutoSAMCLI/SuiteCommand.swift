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

/// `autosam suite SUITE.json`: every config of a suite run in order, then one comparison table.
struct SuiteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "suite",
        abstract: "Run a list of configs in order and print them side by side (the paper's Table 1 in one command).",
        discussion: """
        SUITE.json: \
        {"name": "...", "runs": ["configs/...json", ...], "metrics": "dice,assd", "output": "runs/table1.md"} \
        (paths relative to the working directory; metrics, output and folder optional). Every config is loaded and \
        checked first; then each runs on all ranks like `autosam train --resume auto`, except a run whose output.dir \
        already holds summary.json and a config.json equal to the resolved config ("already done"). Finally the \
        coordinator prints one row per config (mean ± std over its seeds) in suite order and writes the table to \
        output. With "folder": "runs/X", every run whose output.dir is not directly in runs/X is linked there \
        (a relative symbolic link), so that `autosam report runs/X` compares exactly the suite's runs (the paper's \
        Figure 5 and Tables 2 and 3: configs/paper/label_efficiency.json, table2.json, table3.json). \
        Example: `mpirun -np 4 autosam suite configs/paper/table1.json`.
        """
    )

    @Argument(help: "The suite file (JSON).")
    var suite: String

    @Flag(help: "Run nothing: print (and write to output) the table from the runs' existing summary.json files.")
    var onlyTable = false

    func run() throws {
        let suite = try Suite.load(URL(fileURLWithPath: self.suite))
        let configs = try suite.configs()
        if onlyTable {
            let runner = SuiteRunner(suite: suite, configs: configs, world: SingleProcessCommunicator()) {
                try SliceEncoders.make($0)
            }
            try runner.linkRuns()
            let table = try runner.table()
            print(table.render(), terminator: "")
            try runner.write(table)
            printReportHint(suite)
            return
        }
        RankedJob.run { world in
            let runner = SuiteRunner(suite: suite, configs: configs, world: world) { try SliceEncoders.make($0) }
            let table = try runner.run { config in
                configureThreads(config)
                if world.isCoordinator { print(ConfigLoader.render(config)) }
            }
            if let table {
                print("suite \(suite.name):\n" + table.render(), terminator: "")
                printReportHint(suite)
            }
        }
    }

    /// With a folder: the command that draws the suite's comparison.
    private func printReportHint(_ suite: Suite) {
        guard let folder = suite.folder else { return }
        print("all runs are in \(folder); the figure and the tables: autosam report \(folder)")
    }
}
