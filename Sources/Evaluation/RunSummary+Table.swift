import Config
import Embeddings
import Foundation
import Metrics
import Runs
import Training

extension RunSummary {
    /// Reads `<run>/summary.json`, the seed-averaged results a finished `train` writes.
    public static func read(run: URL) throws -> RunSummary {
        let url = run.appendingPathComponent("summary.json")
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            let hint = FileManager.default.fileExists(atPath: run.path)
                ? "the run has not finished testing yet (train writes it after the last seed)"
                : "the run folder does not exist"
            throw ConfigError(source: url.path, message: "cannot read the run summary: \(hint)")
        }
        do { return try JSONDecoder().decode(RunSummary.self, from: data) } catch {
            throw ConfigError(source: url.path, message: "not a run summary (\(error))")
        }
    }

    /// The table `train` prints at the end: one row per seed, then mean and std over the seeds.
    public func table(metrics: [Metric] = [.dice, .assd]) -> ResultsTable {
        let rows = zip(seeds, perSeed).map { ResultsTable.Row(label: "\(name) seed \($0)", summary: $1) }
            + [ResultsTable.Row(label: "\(name) (\(seeds.count) seeds)", summary: overSeeds)]
        return ResultsTable(rows: rows, metrics: metrics)
    }
}

extension RunSummary {
    /// One row per run (its mean ± std over seeds), the layout of the paper's Table 1 when the
    /// runs are the heads and baselines at 1 and 5 training patients.
    public static func comparison(_ runs: [RunSummary], metrics: [Metric] = [.dice, .assd]) -> ResultsTable {
        ResultsTable(rows: runs.map { ResultsTable.Row(label: "\($0.name) (\($0.seeds.count) seeds)",
                                                       summary: $0.overSeeds) },
                     metrics: metrics)
    }
}
