import Config
import Foundation
import Metrics
import Runs
import TensorFiles

/// What `predict --ensemble` writes as `<run>/ensemble_summary.json` after segmenting the run's
/// test split: which checkpoint each seed used, and the scores of the ensemble beside those of
/// each seed on the same volumes (the seeds' own argmax of the same forward passes, i.e. their
/// single-seed predictions), so it shows whether ensembling helps.
public struct EnsembleSummary: Codable, Equatable {
    public static let fileName = "ensemble_summary.json"
    /// Folder of the ensemble's predictions and `test_volumes.csv`, in the run folder.
    public static let folderName = "ensemble"

    public struct Member: Codable, Equatable {
        public let seed: Int
        public let epoch: Int
        /// The checkpoint folder used (…/seed_<s>/checkpoints/epoch_NNNN).
        public let checkpoint: String
    }

    public let name: String
    public let members: [Member]
    /// The uncertainty maps written next to the predictions (`entropy`, `disagreement`), if any.
    public let uncertainty: EnsembleUncertainty?
    /// The test volumes scored.
    public let volumes: [String]
    /// The ensemble over the volumes.
    public let ensemble: ScoreSummary
    /// Each seed over the same volumes, in the members' order.
    public let perSeed: [ScoreSummary]
    /// Mean and std over seeds of `perSeed`.
    public let overSeeds: ScoreSummary

    public init(name: String, members: [Member], uncertainty: EnsembleUncertainty?, volumes: [String],
                ensemble: ScoreSummary, perSeed: [ScoreSummary]) {
        (self.name, self.members, self.uncertainty, self.volumes) = (name, members, uncertainty, volumes)
        (self.ensemble, self.perSeed, self.overSeeds) = (ensemble, perSeed, ScoreSummary(seeds: perSeed))
    }

    /// The mean Dice over classes of the ensemble and the mean over seeds of the seeds' (nil when
    /// undefined).
    public var dice: (ensemble: Double?, seedMean: Double?) {
        (ensemble.average.dice.mean, overSeeds.average.dice.mean)
    }

    /// One row per seed, the mean ± std over seeds, then the ensemble.
    public func table(metrics: [Metric] = [.dice, .assd]) -> ResultsTable {
        let seeds = zip(members, perSeed).map { ResultsTable.Row(label: "\(name) seed \($0.seed)", summary: $1) }
        return ResultsTable(rows: seeds + [
            ResultsTable.Row(label: "\(name) (\(members.count) seeds, mean ± std)", summary: overSeeds),
            ResultsTable.Row(label: "\(name) seed ensemble", summary: ensemble),
        ], metrics: metrics)
    }

    /// "seed ensemble Dice 0.812 vs mean of the seeds 0.790 (+0.022)".
    public var comparison: String {
        let (e, s) = dice
        func f(_ v: Double?) -> String { v.map { String(format: "%.3f", $0) } ?? "n/a" }
        let gain = e.flatMap { e in s.map { String(format: " (%+.3f)", e - $0) } } ?? ""
        return "seed ensemble Dice \(f(e)) vs mean of the \(members.count) seeds \(f(s))\(gain)"
    }

    /// Reads `<run>/ensemble_summary.json`; nil when the run has none.
    public static func read(run: URL) throws -> EnsembleSummary? {
        let url = run.appendingPathComponent(fileName)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        do { return try JSONDecoder().decode(EnsembleSummary.self, from: try Data(contentsOf: url)) } catch {
            throw RunFileError(path: url.path, message: "not a seed-ensemble summary (\(error))")
        }
    }

    /// Writes `<run>/ensemble/test_volumes.csv` (the ensemble's per-volume scores) and
    /// `<run>/ensemble_summary.json`, each atomically.
    func write(scores: [VolumeScores], classNames: [String], run: URL) throws {
        let folder = run.appendingPathComponent(Self.folderName)
        try RunPrediction.createFolder(folder)
        try AtomicFile.write(Data(ScoreCSV.perVolume(scores, classNames: classNames).utf8),
                             to: folder.appendingPathComponent("test_volumes.csv"))
        let pretty = JSONEncoder()
        pretty.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try pretty.encode(self), to: run.appendingPathComponent(Self.fileName))
    }
}
