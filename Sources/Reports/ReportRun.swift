import Config
import Datasets
import Evaluation
import Experiments
import Foundation
import Metrics

/// Everything the report reads of one finished run folder (`autosam train`'s output.dir).
public struct ReportRun {
    public let folder: URL
    /// The resolved config the run stored (`config.json`).
    public let config: ExperimentConfig
    /// `summary.json`: per-seed and over-seed scores.
    public let summary: RunSummary
    /// The fold of `split.json` the run used; nil when the folder has no split file.
    public let split: Split?
    public let seeds: [SeedRecords]
    /// `provenance.json`; nil for runs made before it was recorded.
    public let provenance: RunProvenance?

    /// Short name for headings and figure files: the folder's name.
    public var label: String { folder.lastPathComponent }
    /// True when the run trained something (everything but the zero-shot box baseline).
    public var trained: Bool { config.head.kind != .samBox }

    /// Reads `folder`; every missing or damaged file is an error naming it.
    public static func load(_ folder: URL) throws -> ReportRun {
        let configFile = folder.appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: configFile.path) else {
            throw ReportError(path: configFile.path, message: "missing: the run's resolved config "
                              + "(is \(folder.path) a run folder of `autosam train`?)")
        }
        let config = try ConfigLoader.load(file: configFile)
        let summary = try RunSummary.read(run: folder)
        let splitFile = folder.appendingPathComponent("split.json")
        let split = FileManager.default.fileExists(atPath: splitFile.path)
            ? try SplitPlan.read(splitFile).fold(config.data.fold) : nil
        let trained = config.head.kind != .samBox
        let seeds = try summary.seeds.map {
            try SeedRecords.read(run: folder, seed: $0, classNames: config.classNames, trained: trained)
        }
        return ReportRun(folder: folder, config: config, summary: summary, split: split, seeds: seeds,
                         provenance: try RunProvenance.read(run: folder))
    }
}

/// Test volumes ordered by their mean Dice over the classes (`VolumeScores.average`).
public struct VolumeRanking: Equatable {
    public struct Entry: Equatable {
        public let name: String
        public let meanDice: Double
    }

    /// Ascending: worst first.
    public let entries: [Entry]

    /// One seed's volumes; a volume without a defined average is left out.
    public init(_ volumes: [VolumeScores]) {
        self.init(entries: volumes.compactMap { v in v.average(.dice).map { Entry(name: v.name, meanDice: $0) } })
    }

    /// Every seed's volumes: a volume's score is the mean of its per-seed means.
    public init(seeds: [[VolumeScores]]) {
        var sums: [String: (Double, Int)] = [:]
        var order: [String] = []
        for volume in seeds.joined() {
            guard let dice = volume.average(.dice) else { continue }
            if sums[volume.name] == nil { order.append(volume.name) }
            let (s, n) = sums[volume.name] ?? (0, 0)
            sums[volume.name] = (s + dice, n + 1)
        }
        self.init(entries: order.map { Entry(name: $0, meanDice: sums[$0]!.0 / Double(sums[$0]!.1)) })
    }

    private init(entries: [Entry]) {
        // Ties keep a fixed order by name, so the picks do not depend on file order.
        self.entries = entries.sorted { ($0.meanDice, $0.name) < ($1.meanDice, $1.name) }
    }

    public var worst: Entry? { entries.first }
    public var best: Entry? { entries.last }
    public var median: Entry? { entries.isEmpty ? nil : entries[(entries.count - 1) / 2] }
}
