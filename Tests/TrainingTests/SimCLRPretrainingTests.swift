import TensorFiles
import Collectives
import Datasets
import Foundation
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

/// The SimCLR baseline (issue 8): pretraining of the UNet encoder with the NT-Xent loss of a global
/// batch spread over ranks, then fine-tuning from the pretrained encoder, through `Experiment`.
final class SimCLRPretrainingTests: XCTestCase {
    /// A tiny SimCLR run on the phantom data of the UNet baseline tests (3 training patients).
    static func config(pretrainEpochs: Int = 2, fineTuneEpochs: Int = 2) -> ExperimentConfig {
        var c = TinyRun.config(in: FileManager.default.temporaryDirectory
                                   .appendingPathComponent("autosam-simclr-\(UUID().uuidString)"))
        c.name = "simclr-test"
        c.data.layout = .auto
        c.data.root = UNetBaselineTests.dataRoot.path
        c.head.kind = .unet
        c.head.depth = 2
        c.head.channels = 3
        c.pretrain.method = .simclr
        c.pretrain.epochs = pretrainEpochs
        c.pretrain.batch_size = 5
        c.pretrain.projection_dim = 8
        c.pretrain.lr = 3e-3
        c.optim.epochs = fineTuneEpochs
        c.optim.scheduler = .none
        c.cache.enabled = false
        return c
    }

    /// One optimiser step's result on one rank.
    struct StepOutcome {
        let loss: Double
        /// The summed (all-reduced) gradient of the step.
        let gradient: [Float]
    }

    /// The first step from the seed's initial parameters on the global batch `global` (slice
    /// ids), on `ranks` in-process ranks; every rank's outcome.
    func firstStep(_ c: ExperimentConfig, global: [Int], ranks: Int) throws -> [StepOutcome] {
        try LocalGroup.run(size: ranks) { comm -> StepOutcome in
            let (trainer, set) = try self.trainer(c, comm: comm)
            let loss = try trainer.step(global, set: set, epoch: 0)
            return StepOutcome(loss: loss, gradient: trainer.state.grads)
        }
    }

    /// A fresh pretrainer of `c` on `comm` and the unlabelled slices it trains on.
    func trainer(_ c: ExperimentConfig, comm: Communicator) throws -> (SimCLRPretrainer, SliceSet) {
        let data = try Experiment(config: c, world: comm) { try SliceEncoders.make($0) }.prepareData()
        let unet = UNet(classes: c.data.classes, width: c.head.channels, levels: c.head.depth)
        let network = SimCLRNetwork(unet: unet, projectionHidden: c.pretrain.projection_hidden,
                                    projectionDim: c.pretrain.projection_dim)
        var augmentation = AugmentationConfig.reference
        augmentation.outputSize = c.data.slice_size
        let trainer = try SimCLRPretrainer(network: network, config: c, seed: 0, comm: comm, worldSize: comm.size,
                                           augmentation: augmentation, store: nil,
                                           log: RunLog(rank: comm.rank, metricsFile: nil))
        return (trainer, try XCTUnwrap(data.unlabelled))
    }

    /// Asserts that `actual` is `expected` up to float summation order. Why these tolerances hold
    /// on any correct float rounding: the ranks compute the same sums as one process, only grouped
    /// differently (their own views' GEMMs, of other shapes and so other blockings, then a sum over
    /// ranks), so each gradient element differs by a few float32 roundings of its largest terms:
    /// well inside 1e-5 of the gradient's scale plus 1e-4 relative. The loss is accumulated in
    /// Double from float32 projections z that differ in the same way (relative ~1e-6): 1e-5 relative.
    func assertSameStep(_ actual: StepOutcome, _ expected: StepOutcome, _ context: String,
                        file: StaticString = #filePath, line: UInt = #line) {
        let scale = expected.gradient.map(abs).max()!
        XCTAssertGreaterThan(scale, 0, context, file: file, line: line)
        assertClose(actual.gradient, expected.gradient, atol: 1e-5 * scale, rtol: 1e-4, "\(context): gradient",
                    file: file, line: line)
        XCTAssertEqual(actual.loss, expected.loss, accuracy: 1e-5 * abs(expected.loss), "\(context): loss",
                       file: file, line: line)
    }

    /// The global batch dealt over 1, 2 and 3 ranks gives the same step: the same loss and summed
    /// gradient from the same parameters, for a full batch of 5 (shares 5; 3+2; 2+2+1) and for
    /// batches of 2 and 3 where some rank's share is empty. Compared step by step from identical
    /// parameters because that is what the distribution must preserve; trajectories of several
    /// Adam steps are not compared, since Adam's normalised update turns rounding-level
    /// differences of near-zero gradients into differences of the order of the learning rate.
    func testRankCountDoesNotChangeAPretrainingStep() throws {
        let c = Self.config()
        for global in [Array(0..<5), [7, 3], [4, 9, 1]] {
            let one = try firstStep(c, global: global, ranks: 1)[0]
            for ranks in [2, 3] {
                let outcomes = try firstStep(c, global: global, ranks: ranks)
                for (r, o) in outcomes.enumerated() {
                    XCTAssertEqual(o.gradient, outcomes[0].gradient,
                                   "rank \(r) of \(ranks): the all-reduced gradient differs")
                    XCTAssertEqual(o.loss, outcomes[0].loss, "rank \(r) of \(ranks): the global loss differs")
                }
                assertSameStep(outcomes[0], one, "batch \(global), \(ranks) ranks vs 1")
            }
        }
    }

    /// Whole epochs on 3 ranks (uneven last batches included): every rank takes the same Adam
    /// steps from the same all-reduced gradients, so parameters stay bit-identical across ranks
    /// whatever the rounding, and each epoch is logged.
    func testRanksStayBitIdenticalThroughPretraining() throws {
        let c = Self.config()
        let outcomes = try LocalGroup.run(size: 3) { comm -> ([Float], Int, Int) in
            let (trainer, set) = try self.trainer(c, comm: comm)
            let split = try Experiment(config: c, world: comm) { try SliceEncoders.make($0) }.prepareData().split
            try trainer.train(set, split: split)
            return (trainer.state.params, trainer.records.count, set.count)
        }
        XCTAssertGreaterThan(outcomes[0].2, 10, "the unlabelled set is every training patient's slices")
        XCTAssertGreaterThan(outcomes[0].2 % c.pretrain.batch_size, 0, "the last batch of an epoch is partial")
        for (r, o) in outcomes.enumerated() {
            XCTAssertEqual(o.0, outcomes[0].0, "rank \(r) diverged")
            XCTAssertEqual(o.1, c.pretrain.epochs, "rank \(r): epochs logged")
        }
    }

    /// Micro-batches of 3 views change only how the rows are grouped into GEMMs (the same sums,
    /// other blockings), so the step is the same up to float summation order (`assertSameStep`).
    func testMicroBatchesGiveTheSameStep() throws {
        var chunked = Self.config(pretrainEpochs: 1)
        chunked.pretrain.micro_batch = 3
        let global = Array(0..<5)
        let whole = try firstStep(Self.config(pretrainEpochs: 1), global: global, ranks: 2)[0]
        let parts = try firstStep(chunked, global: global, ranks: 2)[0]
        assertSameStep(parts, whole, "micro-batches of 3 views vs all at once")
    }

    /// Gradient descent on a fixed objective decreases it: steps on one fixed global batch (the
    /// same slices and augmented views every step) with a small learning rate must lower its
    /// NT-Xent loss clearly below ln(2N - 1), the loss of indistinguishable projections. The
    /// network is wide enough (8 channels, 32-wide projection) that no rounding can kill all its
    /// units, and the small learning rate keeps every step a descent step, so this holds on any
    /// correct float rounding (unlike the epoch losses of a run, whose views change every epoch).
    func testContrastiveLossDecreasesOnAFixedBatch() throws {
        var c = Self.config(pretrainEpochs: 1)
        c.head.channels = 8
        c.pretrain.projection_dim = 32
        c.pretrain.lr = 1e-3
        let global = Array(0..<c.pretrain.batch_size)
        let losses = try LocalGroup.run(size: 2) { comm -> [Double] in
            let (trainer, set) = try self.trainer(c, comm: comm)
            return try (0..<30).map { _ in try trainer.step(global, set: set, epoch: 0) }
        }[0]
        let every5th = losses.enumerated().filter { $0.offset % 5 == 0 }.map { String(format: "%.3f", $0.element) }
        print("SimCLR NT-Xent on one fixed batch: \(every5th.joined(separator: " ")) "
              + "... \(String(format: "%.3f", losses.last!))")
        let chance = log(Double(2 * global.count - 1))
        XCTAssertLessThan(losses.last!, min(losses[0], chance) - 0.3, "\(losses)")
    }

    /// The whole baseline on 2 ranks: the exported encoder equals the pretrained network's, and
    /// fine-tuning starts from it (with a negligible learning rate the fine-tuned encoder stays
    /// the pretrained one, unlike the UNet's own initialisation).
    func testFineTuningStartsFromThePretrainedEncoder() throws {
        var c = Self.config(fineTuneEpochs: 1)
        c.optim.lr = 1e-12
        let summaries = try LocalGroup.run(size: 2) { comm -> RunSummary? in
            try Experiment(config: c, world: comm) { try SliceEncoders.make($0) }.run()
        }
        XCTAssertNotNil(summaries[0])
        let seedDir = URL(fileURLWithPath: c.output.dir).appendingPathComponent("seed_0")
        let exported = try SafeTensorsFile(contentsOf: seedDir.appendingPathComponent("pretrain/encoder.safetensors"))
        let pretrainStore = CheckpointStore(root: seedDir.appendingPathComponent("pretrain/checkpoints"), keep: .max)
        let pretrainCheckpoint = try XCTUnwrap(pretrainStore.latestValid().checkpoint)
        XCTAssertEqual(pretrainCheckpoint.state.epoch, 2)
        let fineTuneStore = CheckpointStore(root: seedDir.appendingPathComponent("checkpoints"), keep: .max)
        let fineTuned = try XCTUnwrap(fineTuneStore.latestValid().checkpoint)
        let tuned = Dictionary(uniqueKeysWithValues: fineTuned.params)
        let pretrained = Dictionary(uniqueKeysWithValues: pretrainCheckpoint.params)
        let initial = UNet(classes: 4, width: 3, levels: 2).initialState(seed: 0).trainable
        XCTAssertEqual(exported.names.sorted(), tuned.keys.filter { $0.hasPrefix("encoders.") }.sorted())
        for name in exported.names {
            XCTAssertEqual(try exported.tensor(name), pretrained[name], name)
            assertClose(try XCTUnwrap(tuned[name]).data, try exported.tensor(name).data, atol: 1e-6, rtol: 0, name)
            if name.hasSuffix("conv.weight") {
                XCTAssertGreaterThan(zip(initial.parameter(name).data, try exported.tensor(name).data)
                                         .map { abs($0 - $1) }.max()!, 1e-4, name)
            }
        }
        let pretrainHead = seedDir.appendingPathComponent("pretrain/checkpoints/epoch_0002/head.safetensors")
        let report = try CheckpointInspection.inspect(pretrainHead).report()
        XCTAssertTrue(report.contains("SimCLR pretraining checkpoint") && report.contains("2 of 2 pretraining epochs"),
                      report)
        XCTAssertTrue(report.contains("encoder none (raw slices)"), report)
        XCTAssertEqual(try String(contentsOf: seedDir.appendingPathComponent("pretrain/metrics.jsonl"), encoding: .utf8)
            .split(separator: "\n").count, 2)
    }

    /// Stopping inside pretraining and resuming gives the uninterrupted run's parameters exactly.
    func testResumeInsidePretrainingIsBitIdentical() throws {
        let whole = Self.config(pretrainEpochs: 3, fineTuneEpochs: 1)
        XCTAssertNotNil(try Experiment(config: whole, world: SingleProcessCommunicator()) { try SliceEncoders.make($0) }
                            .run())
        var stopped = Self.config(pretrainEpochs: 3, fineTuneEpochs: 1)
        stopped.data.root = whole.data.root
        let experiment = Experiment(config: stopped, world: SingleProcessCommunicator()) { try SliceEncoders.make($0) }
        XCTAssertNil(try experiment.run(stopAfterEpochs: 2))
        let seed = URL(fileURLWithPath: stopped.output.dir).appendingPathComponent("seed_0")
        let encoderFile = seed.appendingPathComponent("pretrain/encoder.safetensors")
        XCTAssertFalse(FileManager.default.fileExists(atPath: encoderFile.path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: seed.appendingPathComponent("checkpoints").path))
        XCTAssertNotNil(try experiment.run(resume: .auto))
        func finalParams(_ c: ExperimentConfig) throws -> [Float] {
            let checkpoints = URL(fileURLWithPath: c.output.dir).appendingPathComponent("seed_0/checkpoints")
            let store = CheckpointStore(root: checkpoints, keep: .max)
            return try XCTUnwrap(store.latestValid().checkpoint).params.flatMap(\.1.data)
        }
        XCTAssertEqual(try finalParams(stopped), try finalParams(whole))
    }

    func testConfigValidationAndShippedConfigs() throws {
        XCTAssertThrowsError(try ConfigLoader.load(file: nil, overrides: ["pretrain.method=simclr"])) { error in
            XCTAssertTrue("\(error)".contains("head.kind unet"), "\(error)")
        }
        XCTAssertThrowsError(try ConfigLoader.load(file: nil, overrides: ["pretrain.method=byol"]))
        XCTAssertThrowsError(try ConfigLoader.load(file: nil, overrides: ["head.kind=unet", "pretrain.method=simclr",
                                                                          "pretrain.batch_size=1"]))
        XCTAssertThrowsError(try ConfigLoader.load(file: nil, overrides: ["pretrain.temprature=0.1"])) { error in
            XCTAssertTrue("\(error)".contains("temperature"), "a did-you-mean names the key: \(error)")
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        for name in ["simclr_train1", "simclr_train5", "simclr_demo"] {
            let c = try ConfigLoader.load(file: root.appendingPathComponent("configs/baselines/\(name).json"))
            XCTAssertEqual(c.pretrain.method, .simclr, name)
            XCTAssertEqual(c.pretrain.temperature, 0.5, name)
            XCTAssertEqual(c.name, name)
        }
    }
}
