import Collectives
import Datasets
import Foundation
import Tensors
@testable import Baselines
@testable import Config
@testable import Embeddings
@testable import Evaluation
@testable import Experiments
@testable import Runs
@testable import Training

/// A cheap, deterministic stand-in for the SAM encoder: space-to-depth of the first image
/// channel, each 4 x 4 pixel block becoming 16 channels of one cell of the S/4 x S/4 grid, so a
/// head can learn a real segmentation from it quickly. Pixels (in [0, 1] after the dataset's
/// min-max scaling) are standardised over the slice, as a real encoder's features are normalised
/// (SAM's neck ends in LayerNorm2d): the tiny CNN head does not learn from all-positive inputs.
/// Input (C, S, S) with S = 32.
final class SpaceToDepthEncoder: SliceEncoder {
    let cacheKey = "space-to-depth-test"
    let embeddingShape = [16, 8, 8]

    func encode(_ image: Tensor) throws -> Tensor {
        let (s, g, b) = (image.shape[1], 8, 4)
        let plane = image.data[0 ..< s * s]
        let mean = plane.reduce(0, +) / Float(plane.count)
        let std = max((plane.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(plane.count)).squareRoot(), 1e-6)
        precondition(s == g * b, "SpaceToDepthEncoder expects 32 x 32 slices, got \(s)")
        var out = [Float](repeating: 0, count: b * b * g * g)          // (16, 8, 8)
        for y in 0..<s {
            for x in 0..<s {
                let channel = (y % b) * b + x % b
                out[(channel * g + y / b) * g + x / b] = (image.data[y * s + x] - mean) / std
            }
        }
        return Tensor(shape: [b * b, g, g], data: out)
    }
}

/// One small training run on phantom data with `SpaceToDepthEncoder`, trained once per test process
/// and shared by the tests that need a finished run (predict, evaluate --run).
enum TinyRun {
    static func config(in dir: URL) -> ExperimentConfig {
        var c = ExperimentConfig()
        c.name = "tiny"
        c.data.layout = .acdc
        c.data.root = dir.appendingPathComponent("data").path
        c.data.train_size = 1
        c.data.slice_size = 32
        c.data.augmentation = .none
        c.head.kind = .cnn
        c.head.depth = 2
        c.head.channels = 4
        c.optim.epochs = 8
        c.optim.lr = 0.03
        c.seeds = [0]
        c.cache.dtype = .fp32            // cached embeddings equal fresh ones exactly
        c.output.dir = dir.appendingPathComponent("run").path
        c.output.keep_checkpoints = 10
        c.run.progress_every = 1000
        return c
    }

    static func encoderFactory(_: ExperimentConfig) -> SliceEncoder { SpaceToDepthEncoder() }

    /// Trains `config` as `train` does (config.json first) and returns the run folder.
    static func train(_ config: ExperimentConfig) throws -> URL {
        let experiment = Experiment(config: config, world: SingleProcessCommunicator(), encoderFactory: encoderFactory)
        try FileManager.default.createDirectory(at: experiment.outputDir, withIntermediateDirectories: true)
        try ConfigLoader.render(config).write(to: experiment.outputDir.appendingPathComponent("config.json"),
                                              atomically: true, encoding: .utf8)
        try experiment.run()
        return experiment.outputDir
    }

    /// A phantom dataset at half the in-plane matrix in the temporary folder, written once per
    /// test process for each (patients, seed) and shared by the suites that ask for it.
    static func phantomData(patients: Int, seed: UInt64) -> URL {
        let root = FileManager.default.temporaryDirectory
            .appendingPathComponent("autosam-phantom-p\(patients)-s\(seed)-\(getpid())")
        if !FileManager.default.fileExists(atPath: root.path) {
            try! Phantom.writeDataset(to: root, patients: patients, seed: seed, inPlaneScale: 0.5)
        }
        return root
    }

    /// The finished run on 3 phantom patients at half the in-plane matrix: its folder and config.
    static let shared: (folder: URL, config: ExperimentConfig) = {
        let config = TinyRun.config(in: FileManager.default.temporaryDirectory
                                        .appendingPathComponent("tinyrun-\(UUID().uuidString)"))
        try! Phantom.writeDataset(to: URL(fileURLWithPath: config.data.root), patients: 3, seed: 0, inPlaneScale: 0.5)
        return (try! train(config), config)
    }()
}
