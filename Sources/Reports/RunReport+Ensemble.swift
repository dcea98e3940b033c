import Evaluation
import Foundation
import Metrics
import Runs

extension RunReport {
    /// "Seed ensemble", when `predict --ensemble` has scored the run's test split: the ensemble's
    /// row beside the seeds' (`ensemble_summary.json`), the checkpoint each seed used, and per
    /// volume the ensemble's Dice beside the mean of the seeds' (`ensemble/test_volumes.csv`,
    /// `seed_<s>/test_volumes.csv`). Nothing when the run has no ensemble summary.
    static func ensemble(_ run: ReportRun, _ s: inout ReportSection, options: ReportOptions) throws {
        let summary: EnsembleSummary
        do {
            guard let read = try EnsembleSummary.read(run: run.folder) else { return }
            summary = read
        } catch let error as RunFileError {
            throw ReportError(path: error.path, message: error.message)
        }
        s.html.append("<h3 id=\"ensemble-\(HTML.escape(run.label))\">Seed ensemble</h3>")
        s.html.append("<p>\(HTML.escape(summary.comparison)), on the same \(summary.volumes.count) test volume(s) "
                      + "(<code>autosam predict --ensemble</code>: softmax of each seed's head on one encoder pass, "
                      + "mean over seeds, argmax).</p>")
        s.html.append(summary.table(metrics: options.metrics).html(
            caption: "Test set: each seed, their mean ± std, and the seed ensemble (ensemble_summary.json)"))
        s.html.append(HTML.definitions(summary.members.map {
            ("seed \($0.seed)", "epoch \($0.epoch): \($0.checkpoint)")
        }))
        let csv = run.folder.appendingPathComponent(EnsembleSummary.folderName)
            .appendingPathComponent("test_volumes.csv")
        guard FileManager.default.fileExists(atPath: csv.path) else {
            s.html.append(HTML.gap("No ensemble/test_volumes.csv: per-volume scores of the ensemble not shown."))
            return
        }
        let volumes = try VolumeCSV.read(csv, classNames: run.config.classNames)
        let seeds = Dictionary(VolumeRanking(seeds: run.seeds.map(\.volumes)).entries.map { ($0.name, $0.meanDice) },
                               uniquingKeysWith: { a, _ in a })
        let rows = VolumeRanking(volumes).entries.map { e -> [String] in
            let seedMean = seeds[e.name]
            return [e.name, dice(e.meanDice), seedMean.map(dice) ?? "n/a",
                    seedMean.map { String(format: "%+.3f", e.meanDice - $0) } ?? "n/a"]
        }
        s.html.append(HTML.table(header: [["volume", "ensemble mean Dice", "seeds' mean Dice", "gain"]], rows: rows,
                                 caption: "Seed ensemble per test volume (ensemble/test_volumes.csv), "
                                 + "worst first, beside the mean over seeds of each seed's mean Dice"))
    }
}
