import TensorFiles
import Collectives
import Datasets
import Foundation
import Layers
import Heads
import Tensors
import TestSupport
import XCTest
@testable import Baselines
@testable import Config
@testable import Embeddings
@testable import Evaluation
@testable import Experiments
@testable import Runs
@testable import Training

/// A cheap deterministic stand-in for the frozen encoder: (C, g, g) features from average pooling
/// and fixed per-channel affine maps, counting its calls.
final class PoolingEncoder: SliceEncoder {
    let channels = 6, grid = 8
    var calls = 0
    private let lock = NSLock()
    var cacheKey: String { "pooling-test-encoder" }
    var embeddingShape: [Int] { [channels, grid, grid] }

    func encode(_ image: Tensor) throws -> Tensor {
        lock.lock(); calls += 1; lock.unlock()
        let s = image.shape[1], cell = s / grid
        var out = Tensor(zeros: [channels, grid, grid])
        for y in 0..<grid {
            for x in 0..<grid {
                var mean: Float = 0
                for dy in 0..<cell { for dx in 0..<cell { mean += image.data[(y * cell + dy) * s + x * cell + dx] } }
                mean /= Float(cell * cell)
                for c in 0..<channels {
                    out.data[(c * grid + y) * grid + x] = tanh(Float(c + 1) * 0.7 * mean - 0.3 * Float(c))
                        + 0.05 * Float(x - y)
                }
            }
        }
        return out
    }
}

/// `PoolingEncoder` whose every embedding carries `poison` in its first element.
final class PoisonedEncoder: SliceEncoder {
    let base = PoolingEncoder(), poison: Float
    init(poison: Float) { self.poison = poison }
    var cacheKey: String { "poisoned-\(poison)" }
    var embeddingShape: [Int] { base.embeddingShape }
    func encode(_ image: Tensor) throws -> Tensor {
        var out = try base.encode(image)
        out.data[0] = poison
        return out
    }
}

final class DistributedTrainingTests: XCTestCase, TinyDistributedRuns {
    static let dataRoot = TinyRun.phantomData(patients: 5, seed: 3)

    /// Two epochs on 1 and 2 ranks (sharded batches, all-reduced loss statistics and gradients,
    /// sharded validation) log the same losses and end with the same parameters. Why this holds
    /// on any correct float rounding: the ranks compute each step's loss and gradient from the
    /// same parameters up to summation order (the gradient sum itself is checked against PyTorch
    /// on 1, 2 and 3 ranks in `FixtureTrainingPath`), but Adam normalises every update to about
    /// `lr` per element whatever the gradient's size, so a rounding-level gradient difference can
    /// flip an update's sign. The learning rate is therefore so small that even flipped updates
    /// of every step (at most ~3.2 lr each, Kingma & Ba's bound) stay far inside the tolerance.
    func testOneAndTwoRanksFollowTheSameTrajectory() throws {
        var c1 = config("r1"), c2 = config("r2")
        c1.optim.lr = 1e-8
        c2.optim.lr = 1e-8
        let one = try train(c1, ranks: 1)
        let two = try train(c2, ranks: 2)
        XCTAssertEqual(one.losses.count, 2)
        XCTAssertLessThan(2 * 3.2 * Double(c1.optim.lr) * Double(one.steps), 1e-5,
                          "the flipped-update bound fits the tolerance")
        assertClose(two.losses.map(Float.init), one.losses.map(Float.init), atol: 1e-5, rtol: 1e-4, "losses")
        assertClose(two.params, one.params, atol: 1e-5, rtol: 1e-4, "final parameters")
    }

    /// Non-finite values stop a run in normal mode (no --debug), on every rank, with a message
    /// naming what was bad, and nothing is reported as a result: a NaN or Inf embedding names its
    /// slice; a learning rate of 1e30 blows the parameters up after one step, and the next
    /// step's loss or gradient is named.
    func testNonFiniteEmbeddingsOrLossesStopTheRunWithoutResults() throws {
        let cases: [(String, Float, Float, [String])] = [
            ("nan", .nan, 0.01, ["embedding of"]), ("inf", .infinity, 0.01, ["embedding of"]),
            ("lr", 0, 1e30, ["training loss at epoch", "gradient of"])]
        for (name, poison, lr, expected) in cases {
            var c = config("poisoned-\(name)")
            c.run.debug_checks = false
            c.cache.enabled = false
            c.optim.lr = lr
            XCTAssertThrowsError(try LocalGroup.run(size: 2) { comm -> Int in
                try Experiment(config: c, world: comm) { _ -> SliceEncoder in
                    poison == 0 ? PoolingEncoder() : PoisonedEncoder(poison: poison)
                }.run()
                return 0
            }) { error in
                XCTAssertTrue("\(error)".contains("NaN or Inf") && expected.contains { "\(error)".contains($0) },
                              "\(name): \(error)")
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: c.output.dir + "/summary.json"),
                           "\(name): no summary")
            XCTAssertFalse(FileManager.default.fileExists(atPath: c.output.dir + "/seed_0/test_volumes.csv"),
                           "\(name): no scores")
        }
    }

    /// `optim.validation_loss`: `whole_set` is the soft-Dice of all validation slices as one
    /// batch; `batch_mean` the reference's mean over consecutive batches of `batch_size` slices.
    /// Both are checked against a direct single-process computation with `HeadStep`, on 1 and 3
    /// ranks (round-robin shares split the batches across ranks).
    func testValidationLossDefinitions() throws {
        for mode in [ValidationLoss.wholeSet, .batchMean] {
            var c = config("validation-\(mode)")
            c.optim.validation_loss = mode
            c.optim.batch_size = 3
            let values = try [1, 3].map { ranks in
                try LocalGroup.run(size: ranks) { comm -> (Double, Double) in
                    let experiment = Experiment(config: c, world: comm) { _ in PoolingEncoder() }
                    let data = try experiment.prepareData(), provider = try experiment.makeProvider()
                    let head = CNNHead(inputChannels: 6, classes: c.data.classes, depth: c.head.depth,
                                       topChannel: c.head.channels)
                    let trainer = try SeedTrainer(head: head, config: c, seed: 0, comm: comm, worldSize: comm.size,
                                                  provider: provider,
                                                  store: nil, log: RunLog(rank: comm.rank, metricsFile: nil))
                    // Direct: consecutive batches (or one batch of everything) on this process alone.
                    let set = data.validation, n = set.count
                    let groups = mode == .batchMean ? stride(from: 0, to: n, by: 3).map { Array($0..<min(n, $0 + 3)) }
                        : [Array(0..<n)]
                    var step = HeadStep(head: head)
                    let losses = try groups.map { ids -> Double in
                        let samples = try ids.map { try provider.clean(set, $0) }
                        let batch = LocalBatch(embeddings: Tensor(shape: [ids.count, 6, 8, 8],
                                                                  data: samples.flatMap(\.embedding.data)),
                                               labels: samples.flatMap(\.labels), labelSize: c.data.slice_size)
                        return SoftDiceLoss.loss(step.statistics(batch, state: trainer.state, frozen: trainer.frozen))
                            .loss
                    }
                    return (try trainer.validationLoss(set), losses.reduce(0, +) / Double(losses.count))
                }[0]
            }
            for (ranks, (got, expected)) in zip([1, 3], values) {
                XCTAssertEqual(got, expected, accuracy: 1e-9 * max(1, abs(expected)), "\(mode), \(ranks) rank(s)")
            }
        }
    }

    /// With augmentation off the encoder runs once per slice across all epochs, and cached training
    /// (fp32) equals uncached training.
    func testCacheIsUsedAndChangesNothing() throws {
        let encoder = PoolingEncoder()
        let c = config("cached", epochs: 3)
        let cached = try train(c, ranks: 1, encoder: encoder)
        let index = try DatasetIndex.scan(Self.dataRoot)
        let split = try SplitPlan.read(URL(fileURLWithPath: c.output.dir + "/split.json")).fold(0)
        let sets = try index.sliceSets(split, trainSize: 1)
        XCTAssertEqual(encoder.calls, sets.train.count + sets.val.count + sets.test.count)
        var u = config("uncached", epochs: 3)
        u.cache.enabled = false
        let uncachedEncoder = PoolingEncoder()
        let uncached = try train(u, ranks: 1, encoder: uncachedEncoder)
        XCTAssertEqual(uncached.params, cached.params)
        XCTAssertGreaterThan(uncachedEncoder.calls, encoder.calls)
    }

    /// `bank` encodes K views per training slice once; `reference` encodes every training step.
    func testAugmentationModesUseTheEncoderAsDocumented() throws {
        func counts(_ mode: AugmentationMode, epochs: Int) throws -> (calls: Int, train: Int, evaluation: Int) {
            var c = config("aug-\(mode)", epochs: epochs)
            c.data.augmentation = mode
            c.data.bank_views = 2
            let encoder = PoolingEncoder()
            _ = try train(c, ranks: 1, encoder: encoder)
            let split = try SplitPlan.read(URL(fileURLWithPath: c.output.dir + "/split.json")).fold(0)
            let sets = try DatasetIndex.scan(Self.dataRoot).sliceSets(split, trainSize: 1)
            return (encoder.calls, sets.train.count, sets.val.count + sets.test.count)
        }
        let bank = try counts(.bank, epochs: 3)
        XCTAssertEqual(bank.calls, bank.evaluation + 2 * bank.train)
        let reference = try counts(.reference, epochs: 2)
        XCTAssertEqual(reference.calls, reference.evaluation + 2 * reference.train)
    }

    /// With as many ranks as seeds, each seed trains in its own group at the same time, and the
    /// results equal training the seeds one after another on one rank.
    func testSeedGroupsTrainConcurrentlyWithTheSameResults() throws {
        var parallel = config("seeds-parallel")
        parallel.seeds = [0, 1]
        var serial = config("seeds-serial")
        serial.seeds = [0, 1]
        let groups = try LocalGroup.run(size: 2) { comm -> [Int] in
            try Experiment(config: parallel, world: comm) { _ in PoolingEncoder() }.seedGroups().seeds
        }
        XCTAssertEqual(groups, [[0], [1]])
        func run(_ c: ExperimentConfig, ranks: Int) throws -> RunSummary {
            try LocalGroup.run(size: ranks) { comm in
                try Experiment(config: c, world: comm) { _ in PoolingEncoder() }.run()
            }[0]!
        }
        let a = try run(parallel, ranks: 2), b = try run(serial, ranks: 1)
        XCTAssertEqual(a.seeds, [0, 1])
        XCTAssertEqual(b.seeds, [0, 1])
        for (x, y) in zip(a.perSeed, b.perSeed) {
            XCTAssertEqual(x.average.dice.mean ?? -1, y.average.dice.mean ?? -1, accuracy: 1e-6)
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: parallel.output.dir + "/summary.json"))
    }
}
