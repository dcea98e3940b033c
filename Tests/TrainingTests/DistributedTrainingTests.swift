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
                    out.data[(c * grid + y) * grid + x] = tanh(Float(c + 1) * 0.7 * mean - 0.3 * Float(c)) + 0.05 * Float(x - y)
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

final class DistributedTrainingTests: XCTestCase {
    static let dataRoot = TinyRun.phantomData(patients: 5, seed: 3)

    /// The tiny CNN run of `TinyRun` on this suite's shared phantom data, in a fresh output folder.
    func config(_ name: String, epochs: Int = 2) -> ExperimentConfig {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("autosam-run-\(name)-\(UUID().uuidString)")
        var c = TinyRun.config(in: dir)
        c.name = name
        c.data.layout = .auto
        c.data.root = Self.dataRoot.path
        c.optim.epochs = epochs
        c.optim.lr = 0.01
        c.run.progress_every = 10
        c.run.verify_ranks = true
        return c
    }

    /// Runs an experiment on `ranks` in-process ranks; returns the per-epoch losses and the final params.
    func train(_ c: ExperimentConfig, ranks: Int, resume: ResumeMode = .none, stopAfter: Int? = nil,
               encoder: PoolingEncoder = PoolingEncoder()) throws -> (losses: [Double], params: [Float], steps: Int) {
        _ = try LocalGroup.run(size: ranks) { comm -> Int in
            let e = Experiment(config: c, world: comm) { _ in encoder }
            try e.run(resume: resume, stopAfterEpochs: stopAfter)
            return 0
        }
        let store = CheckpointStore(root: URL(fileURLWithPath: c.output.dir).appendingPathComponent("seed_0/checkpoints"), keep: 100)
        let last = try store.read(epoch: store.completeEpochs().last!)
        let metrics = try String(contentsOfFile: c.output.dir + "/seed_0/metrics.jsonl", encoding: .utf8)
        let records = try metrics.split(separator: "\n").map { try JSONDecoder().decode(EpochRecord.self, from: Data($0.utf8)) }
        return (records.map(\.trainLoss), last.params.flatMap(\.1.data), records.last?.step ?? 0)
    }

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
        XCTAssertLessThan(2 * 3.2 * Double(c1.optim.lr) * Double(one.steps), 1e-5, "the flipped-update bound fits the tolerance")
        assertClose(two.losses.map(Float.init), one.losses.map(Float.init), atol: 1e-5, rtol: 1e-4, "losses")
        assertClose(two.params, one.params, atol: 1e-5, rtol: 1e-4, "final parameters")
    }

    func testResumedRunIsBitIdenticalToUninterrupted() throws {
        let full = try train(config("full", epochs: 4), ranks: 2)
        let c = config("resumed", epochs: 4)
        _ = try train(c, ranks: 2, stopAfter: 2)
        let resumed = try train(c, ranks: 2, resume: .auto)
        XCTAssertEqual(resumed.params, full.params, "final parameters after resume")
        XCTAssertEqual(resumed.losses, full.losses, "per-epoch losses after resume")
    }

    /// `test_model = best`, stopped after the last (not validated, so not best) epoch and resumed:
    /// testing must use the best epoch's weights, not the restored ones, so the per-volume CSV and
    /// the predictions equal the uninterrupted run's. Only epoch 4 of 7 is validated, so the best
    /// epoch is 4 on any CPU; a `last` run checks that epoch 7's masks differ (the TinyRun head
    /// learns fast enough that they do). Before the fix the resumed run tested the epoch-7 weights.
    func testBestModelRunResumedAfterItsLastEpochTestsTheBestWeights() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("autosam-best-\(UUID().uuidString)")
        func bestRun(_ name: String, testModel: TestModel = .best) -> ExperimentConfig {
            var c = TinyRun.config(in: root.appendingPathComponent(name))
            c.data.root = TinyRun.shared.config.data.root
            c.optim.epochs = 7
            c.optim.test_model = testModel
            c.optim.validate_every = 4
            return c
        }
        func train(_ c: ExperimentConfig, resume: ResumeMode = .none, stopAfter: Int? = nil) throws {
            _ = try LocalGroup.run(size: 2) { comm in
                try Experiment(config: c, world: comm, encoderFactory: TinyRun.encoderFactory).run(resume: resume, stopAfterEpochs: stopAfter)
            }
        }
        let whole = bestRun("whole"), parted = bestRun("parted"), last = bestRun("last", testModel: .last)
        try train(whole)
        try train(last)
        try train(parted, stopAfter: 7)
        XCTAssertFalse(FileManager.default.fileExists(atPath: parted.output.dir + "/summary.json"), "stopped before testing")
        try train(parted, resume: .auto)
        let store = CheckpointStore(root: URL(fileURLWithPath: parted.output.dir).appendingPathComponent("seed_0/checkpoints"), keep: 100)
        XCTAssertEqual(try store.read(epoch: 7).state.bestEpoch, 4)
        func results(_ c: ExperimentConfig) throws -> [String: Data] {
            let seed = URL(fileURLWithPath: c.output.dir).appendingPathComponent("seed_0")
            let predictions = try FileManager.default.contentsOfDirectory(atPath: seed.appendingPathComponent("predictions").path).sorted()
            XCTAssertFalse(predictions.isEmpty)
            var files = ["test_volumes.csv": try Data(contentsOf: seed.appendingPathComponent("test_volumes.csv"))]
            for p in predictions { files[p] = try Data(contentsOf: seed.appendingPathComponent("predictions/" + p)) }
            return files
        }
        XCTAssertNotEqual(try results(last), try results(whole), "testing epoch 7 instead of 4 must change the results for this test to mean anything")
        XCTAssertEqual(try results(parted), try results(whole))
        let summaries = try [whole, parted].map { try JSONDecoder().decode(RunSummary.self, from: Data(contentsOf: URL(fileURLWithPath: $0.output.dir + "/summary.json"))) }
        XCTAssertEqual(summaries[1].perSeed.map(\.average.dice.mean), summaries[0].perSeed.map(\.average.dice.mean))
        XCTAssertEqual(summaries[1].perSeed.map(\.average.assd.mean), summaries[0].perSeed.map(\.average.assd.mean))
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
                try Experiment(config: c, world: comm) { _ -> SliceEncoder in poison == 0 ? PoolingEncoder() : PoisonedEncoder(poison: poison) }.run()
                return 0
            }) { error in
                XCTAssertTrue("\(error)".contains("NaN or Inf") && expected.contains { "\(error)".contains($0) }, "\(name): \(error)")
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: c.output.dir + "/summary.json"), "\(name): no summary")
            XCTAssertFalse(FileManager.default.fileExists(atPath: c.output.dir + "/seed_0/test_volumes.csv"), "\(name): no scores")
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
                    let head = CNNHead(inputChannels: 6, classes: c.data.classes, depth: c.head.depth, topChannel: c.head.channels)
                    let trainer = try SeedTrainer(head: head, config: c, seed: 0, comm: comm, worldSize: comm.size, provider: provider,
                                                  store: nil, log: RunLog(rank: comm.rank, metricsFile: nil))
                    // Direct: consecutive batches (or one batch of everything) on this process alone.
                    let set = data.validation, n = set.count
                    let groups = mode == .batchMean ? stride(from: 0, to: n, by: 3).map { Array($0..<min(n, $0 + 3)) } : [Array(0..<n)]
                    var step = HeadStep(head: head)
                    let losses = try groups.map { ids -> Double in
                        let samples = try ids.map { try provider.clean(set, $0) }
                        let batch = LocalBatch(embeddings: Tensor(shape: [ids.count, 6, 8, 8], data: samples.flatMap(\.embedding.data)),
                                               labels: samples.flatMap(\.labels), labelSize: c.data.slice_size)
                        return SoftDiceLoss.loss(step.statistics(batch, state: trainer.state, frozen: trainer.frozen)).loss
                    }
                    return (try trainer.validationLoss(set), losses.reduce(0, +) / Double(losses.count))
                }[0]
            }
            for (ranks, (got, expected)) in zip([1, 3], values) {
                XCTAssertEqual(got, expected, accuracy: 1e-9 * max(1, abs(expected)), "\(mode), \(ranks) rank(s)")
            }
        }
    }

    /// Ranks other than the coordinator never read the run folder (issue 15 item 1): rank 1 runs
    /// with its own empty output folder, as on a node that does not see the run folder, and still
    /// resumes from the checkpoint the coordinator chose and sent (the split too), bit-identical
    /// to the uninterrupted run; its folder gets no split, checkpoint or log. Before, rank 1
    /// looked for checkpoints itself, found none and started over.
    func testResumeIsDecidedByTheCoordinator() throws {
        let full = try train(config("coordinator-full", epochs: 4), ranks: 2)
        let c = config("coordinator-resumed", epochs: 4)
        _ = try train(c, ranks: 2, stopAfter: 2)
        var local = c
        local.output.dir = FileManager.default.temporaryDirectory.appendingPathComponent("autosam-rank1-\(UUID().uuidString)").path
        _ = try LocalGroup.run(size: 2) { comm -> Int in
            try Experiment(config: comm.rank == 0 ? c : local, world: comm) { _ in PoolingEncoder() }.run(resume: .auto)
            return 0
        }
        let store = CheckpointStore(root: URL(fileURLWithPath: c.output.dir).appendingPathComponent("seed_0/checkpoints"), keep: 100)
        XCTAssertEqual(try store.read(epoch: 4).params.flatMap(\.1.data), full.params)
        let leftovers = (try? FileManager.default.subpathsOfDirectory(atPath: local.output.dir)) ?? []
        XCTAssertTrue(leftovers.allSatisfy { $0.hasPrefix("cache") }, "rank 1 wrote only its node-local cache: \(leftovers)")
    }

    /// Elastic resume (issue 15 item 5): 2 ranks for two epochs, 3 ranks for the third, 1 rank
    /// for the fourth gives the uninterrupted 1-rank run's per-epoch losses and parameters up to
    /// float rounding (global-batch semantics). The learning rate is tiny for the reason given in
    /// `testOneAndTwoRanksFollowTheSameTrajectory` (Adam's sign flips).
    func testResumeWithAnotherRankCount() throws {
        var whole = config("elastic-whole", epochs: 4), parted = config("elastic-parted", epochs: 4)
        whole.optim.lr = 1e-8
        parted.optim.lr = 1e-8
        let one = try train(whole, ranks: 1)
        _ = try train(parted, ranks: 2, stopAfter: 2)
        _ = try train(parted, ranks: 3, resume: .auto, stopAfter: 1)
        let elastic = try train(parted, ranks: 1, resume: .auto)
        XCTAssertEqual(elastic.losses.count, 4, "each epoch logged once across the three invocations")
        XCTAssertLessThan(2 * 3.2 * Double(whole.optim.lr) * Double(one.steps), 1e-5, "the flipped-update bound fits the tolerance")
        assertClose(elastic.losses.map(Float.init), one.losses.map(Float.init), atol: 1e-5, rtol: 1e-4, "per-epoch losses")
        assertClose(elastic.params, one.params, atol: 1e-5, rtol: 1e-4, "final parameters")
        let store = CheckpointStore(root: URL(fileURLWithPath: parted.output.dir).appendingPathComponent("seed_0/checkpoints"), keep: 100)
        XCTAssertEqual(try store.read(epoch: 3).state.worldSize, 3)
        XCTAssertEqual(try store.read(epoch: 4).state.worldSize, 1)
    }

    func testDamagedNewestCheckpointFallsBackToThePreviousOne() throws {
        let c = config("damaged", epochs: 3)
        _ = try train(c, ranks: 1)
        let store = CheckpointStore(root: URL(fileURLWithPath: c.output.dir).appendingPathComponent("seed_0/checkpoints"), keep: 100)
        XCTAssertEqual(store.completeEpochs(), [1, 2, 3])
        let head = store.folder(epoch: 3).appendingPathComponent("head.safetensors")
        var bytes = try Data(contentsOf: head)
        bytes[bytes.count - 5] ^= 0x40
        try bytes.write(to: head)
        let (found, skipped) = store.latestValid()
        XCTAssertEqual(found?.state.epoch, 2)
        XCTAssertEqual(skipped.count, 1)
        XCTAssertTrue(skipped[0].contains("checksum mismatch"), skipped[0])
        // A truncated state file is reported too.
        let state = store.folder(epoch: 2).appendingPathComponent("state.json")
        try Data(try Data(contentsOf: state).prefix(40)).write(to: state)
        XCTAssertThrowsError(try store.read(epoch: 2)) { XCTAssertTrue("\($0)".contains("state.json"), "\($0)") }
        XCTAssertEqual(store.latestValid().checkpoint?.state.epoch, 1)
        // A folder without the completion marker is never considered.
        try FileManager.default.removeItem(at: store.folder(epoch: 1).appendingPathComponent("COMPLETE"))
        XCTAssertFalse(store.completeEpochs().contains(1))
    }

    func testResumeRefusesAChangedConfigAndSaysWhatDiffers() throws {
        var c = config("changed", epochs: 2)
        _ = try train(c, ranks: 1, stopAfter: 1)
        c.optim.lr = 0.5
        XCTAssertThrowsError(try train(c, ranks: 1, resume: .auto)) { e in
            XCTAssertTrue("\(e)".contains("optim.lr"), "\(e)")
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
