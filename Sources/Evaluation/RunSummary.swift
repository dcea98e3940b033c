import Config
import Embeddings
import Foundation
import Metrics
import Runs
import Training

/// The test results of one seed.
public struct SeedResult: Codable {
    public let seed: Int
    public let volumes: [VolumeScores]

    public init(seed: Int, volumes: [VolumeScores]) {
        self.seed = seed
        self.volumes = volumes
    }
}

/// Seed-averaged results of a run (`summary.json`).
public struct RunSummary: Codable {
    public let name: String
    public let seeds: [Int]
    public let perSeed: [ScoreSummary]
    public let overSeeds: ScoreSummary

    public init(name: String, seeds: [Int], perSeed: [ScoreSummary], overSeeds: ScoreSummary) {
        (self.name, self.seeds, self.perSeed, self.overSeeds) = (name, seeds, perSeed, overSeeds)
    }
}
