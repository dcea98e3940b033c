import Baselines
import Collectives
import Config
import Datasets
import Embeddings
import Evaluation
import Foundation
import Runs
import Training

/// Slice and volume counts of a run's prepared data (`autosam prepare`).
public struct DataReport: Equatable {
    public struct SetCounts: Equatable {
        public let name: String
        public let patients: [String]
        public let volumes: Int
        public let slices: Int
    }

    public let fold: Int
    /// Training patients of the fold, of which the first `sets[0].patients.count` are used.
    public let foldTrainPatients: [String]
    public let sets: [SetCounts]

    public init(_ data: Experiment.Data) {
        fold = data.split.fold
        foldTrainPatients = data.split.train
        func counts(_ name: String, _ set: SliceSet) -> SetCounts {
            SetCounts(name: name, patients: Array(Set(set.volumes.map(\.patient))).sorted(),
                      volumes: set.volumes.count, slices: set.count)
        }
        sets = [counts("train", data.train), counts("val", data.validation), counts("test", data.test)]
    }

    public func render() -> String {
        var lines = ["fold \(fold): \(foldTrainPatients.count) training patients in the fold, "
                     + "\(sets[0].patients.count) used (data.train_size)"]
        lines.append("set    patients  volumes  slices  patient ids")
        for s in sets {
            let shown = s.patients.prefix(12).joined(separator: " ") + (s.patients.count > 12 ? " ..." : "")
            lines.append(s.name.padding(toLength: 5, withPad: " ", startingAt: 0)
                         + String(format: "%10d %8d %7d  ", s.patients.count, s.volumes, s.slices) + shown)
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// What `autosam embed` did, summed over the ranks.
public struct CacheBuildReport {
    public let directory: URL
    /// Slices of the train, val and test sets.
    public let slices: (train: Int, validation: Int, test: Int)
    /// Cache entries the config needs (clean views; bank views with `data.augmentation bank`).
    public let entries: Int
    /// Entries computed now (encoder calls).
    public let encoded: Int
    /// Entries that were already cached and valid.
    public let reused: Int
    /// Damaged entries found and recomputed.
    public let replaced: Int
    /// Wall-clock seconds of the build (slowest rank).
    public let seconds: Double
    /// Encoder seconds per encoded slice, summed over ranks (nil when nothing was encoded).
    public var secondsPerSlice: Double? { encoded > 0 ? rankSeconds / Double(encoded) : nil }
    let rankSeconds: Double

    public func render() -> String {
        let perSlice = secondsPerSlice.map { String(format: "%.3f s per encoded slice (per rank)", $0) }
            ?? "nothing to encode"
        return """
        slices: train \(slices.train), val \(slices.validation), test \(slices.test)
        cache entries: \(entries) needed, \(encoded) encoded now, \(reused) already cached\
        \(replaced > 0 ? ", \(replaced) damaged ones replaced" : "")
        \(String(format: "%.1f", seconds)) s, \(perSlice)
        cache folder: \(directory.path)

        """
    }
}

extension Experiment {
    /// Builds every embedding-cache entry the config needs (`autosam embed`): prepares the data,
    /// then encodes the missing clean views (and bank views) sharded over the ranks of `world`.
    public func buildCache(progress: @escaping (Int, Int) -> Void = { _, _ in }) throws -> CacheBuildReport {
        guard config.cache.enabled else {
            throw ConfigError(source: "cache.enabled",
                              message: "the embedding cache is disabled in this config; nothing to build")
        }
        let data = try prepareData()
        let provider = try makeProvider()
        guard let cache = provider.cache else { preconditionFailure("makeProvider ignored cache.enabled") }
        let started = Date()
        try provider.prebuild(train: data.train, evaluation: [data.validation, data.test], comm: world,
                              progress: progress)
        let mine = Date().timeIntervalSince(started)
        var sums = [Double(cache.hits), Double(cache.misses), Double(cache.rejected), mine]
        try world.allReduceSum(&sums)
        var slowest = [mine]
        try world.allReduceMax(&slowest)
        return CacheBuildReport(directory: cache.directory,
                                slices: (data.train.count, data.validation.count, data.test.count),
                                entries: Int(sums[0] + sums[1]), encoded: Int(sums[1]), reused: Int(sums[0]),
                                replaced: Int(sums[2]), seconds: slowest[0], rankSeconds: sums[3])
    }
}
