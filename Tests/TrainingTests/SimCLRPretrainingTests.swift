import Checkpoints
import Collectives
import Datasets
import Foundation
import Heads
import Tensors
import TestSupport
import XCTest
@testable import Training

/// The SimCLR baseline (issue 8): pretraining of the UNet encoder with the NT-Xent loss of a global
/// batch spread over ranks, then fine-tuning from the pretrained encoder, through `Experiment`.
final class SimCLRPretrainingTests: XCTestCase {
    /// A tiny SimCLR run on the phantom data of the UNet baseline tests (3 training patients).
    static func config(pretrainEpochs: Int = 2, fineTuneEpochs: Int = 2) -> ExperimentConfig {
        var c = TinyRun.config(in: FileManager.default.temporaryDirectory.appendingPathComponent("autosam-simclr-\(UUID().uuidString)"))
        c.name = "simclr-test"
        c.data.layout = "auto"
        c.data.root = UNetBaselineTests.dataRoot.path
        c.head.kind = "unet"
        c.head.depth = 2
        c.head.channels = 3
        c.pretrain.method = "simclr"
        c.pretrain.epochs = pretrainEpochs
        c.pretrain.batch_size = 5
        c.pretrain.projection_dim = 8
        c.pretrain.lr = 3e-3
        c.optim.epochs = fineTuneEpochs
        c.optim.scheduler = "none"
        c.cache.enabled = false
        return c
    }

    struct Outcome {
        let losses: [Double]
        let params: [Float]
        /// The summed gradient of the first step.
        let firstGradient: [Float]
        let slices: Int
    }

    /// Pretrains `c` on `ranks` in-process ranks; every rank's losses, parameters and first gradient.
    func pretrain(_ c: ExperimentConfig, ranks: Int) throws -> [Outcome] {
        try LocalGroup.run(size: ranks) { comm -> Outcome in
            let data = try Experiment(config: c, world: comm) { try SliceEncoders.make($0) }.prepareData()
            let unet = UNet(classes: c.data.classes, width: c.head.channels, levels: c.head.depth)
            let network = SimCLRNetwork(unet: unet, projectionHidden: c.pretrain.projection_hidden, projectionDim: c.pretrain.projection_dim)
            var augmentation = AugmentationConfig.reference
            augmentation.outputSize = c.data.slice_size
            let set = try XCTUnwrap(data.unlabelled)
            let log = RunLog(rank: comm.rank, metricsFile: nil)
            let first = try SimCLRPretrainer(network: network, config: c, seed: 0, comm: comm, worldSize: comm.size,
                                             augmentation: augmentation, store: nil, log: log)
            _ = try first.step(Array(0..<c.pretrain.batch_size), set: set, epoch: 0)
            let trainer = try SimCLRPretrainer(network: network, config: c, seed: 0, comm: comm, worldSize: comm.size,
                                               augmentation: augmentation, store: nil, log: log)
            try trainer.train(set, split: data.split)
            return Outcome(losses: trainer.records.map(\.loss), params: trainer.state.params, firstGradient: first.state.grads,
                           slices: set.count)
        }
    }

    /// The global batch of 5 dealt over 1, 2 and 3 ranks (shares 5; 3+2; 2+2+1; and last
    /// batches whose share is empty on some rank) gives the same gradients and losses, and the
    /// ranks of a run stay bit-identical. (Parameters after many Adam steps are compared loosely:
    /// Adam's normalised update turns float-rounding differences of near-zero gradients into
    /// differences of the order of the learning rate, as in PyTorch.)
    func testRankCountDoesNotChangePretraining() throws {
        let c = Self.config()
        let one = try pretrain(c, ranks: 1)[0]
        XCTAssertGreaterThan(one.slices, 10, "the unlabelled set is every training patient's slices")
        XCTAssertEqual(one.losses.count, 2)
        let scale = one.firstGradient.map(abs).max()!
        XCTAssertGreaterThan(scale, 0)
        for ranks in [2, 3] {
            let outcomes = try pretrain(c, ranks: ranks)
            for (r, o) in outcomes.enumerated() {
                XCTAssertEqual(o.params, outcomes[0].params, "rank \(r) of \(ranks) diverged")
            }
            assertClose(outcomes[0].firstGradient, one.firstGradient, atol: 1e-5 * scale, rtol: 1e-4, "\(ranks) ranks vs 1: gradient")
            for (a, b) in zip(outcomes[0].losses, one.losses) { XCTAssertEqual(a, b, accuracy: 1e-5 * max(1, abs(b)), "\(ranks) ranks") }
            assertClose(outcomes[0].params, one.params, atol: 2 * c.pretrain.lr, rtol: 0, "\(ranks) ranks vs 1: parameters")
        }
    }

    func testMicroBatchesGiveTheSameStep() throws {
        var chunked = Self.config(pretrainEpochs: 1)
        chunked.pretrain.micro_batch = 3
        let whole = try pretrain(Self.config(pretrainEpochs: 1), ranks: 2)[0], parts = try pretrain(chunked, ranks: 2)[0]
        XCTAssertEqual(parts.losses[0], whole.losses[0], accuracy: 1e-6)
        let scale = whole.firstGradient.map(abs).max()!
        assertClose(parts.firstGradient, whole.firstGradient, atol: 1e-5 * scale, rtol: 1e-4, "micro-batches of 3 views vs all at once")
    }

    /// Logged numbers: NT-Xent over 8 epochs (batch 5, ln(9) = 2.20 for random projections).
    func testContrastiveLossDecreases() throws {
        var c = Self.config(pretrainEpochs: 8)
        c.pretrain.lr = 1e-2
        let losses = try pretrain(c, ranks: 2)[0].losses
        print("SimCLR NT-Xent per epoch: \(losses.map { String(format: "%.3f", $0) }.joined(separator: " "))")
        XCTAssertLessThan(losses.suffix(2).reduce(0, +) / 2, losses[0] - 0.1, "\(losses)")
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
        let pretrainCheckpoint = try XCTUnwrap(CheckpointStore(root: seedDir.appendingPathComponent("pretrain/checkpoints"), keep: .max)
            .latestValid().checkpoint)
        XCTAssertEqual(pretrainCheckpoint.state.epoch, 2)
        let fineTuned = try XCTUnwrap(CheckpointStore(root: seedDir.appendingPathComponent("checkpoints"), keep: .max).latestValid().checkpoint)
        let tuned = Dictionary(uniqueKeysWithValues: fineTuned.params)
        let pretrained = Dictionary(uniqueKeysWithValues: pretrainCheckpoint.params)
        let initial = UNet(classes: 4, width: 3, levels: 2).initialState(seed: 0).trainable
        XCTAssertEqual(exported.names.sorted(), tuned.keys.filter { $0.hasPrefix("encoders.") }.sorted())
        for name in exported.names {
            XCTAssertEqual(try exported.tensor(name), pretrained[name], name)
            assertClose(try XCTUnwrap(tuned[name]).data, try exported.tensor(name).data, atol: 1e-6, rtol: 0, name)
            if name.hasSuffix("conv.weight") {
                XCTAssertGreaterThan(zip(initial.parameter(name).data, try exported.tensor(name).data).map { abs($0 - $1) }.max()!, 1e-4, name)
            }
        }
        let report = try CheckpointInspection.inspect(seedDir.appendingPathComponent("pretrain/checkpoints/epoch_0002/head.safetensors")).report()
        XCTAssertTrue(report.contains("SimCLR pretraining checkpoint") && report.contains("2 of 2 pretraining epochs"), report)
        XCTAssertTrue(report.contains("encoder none (raw slices)"), report)
        XCTAssertEqual(try String(contentsOf: seedDir.appendingPathComponent("pretrain/metrics.jsonl"), encoding: .utf8)
            .split(separator: "\n").count, 2)
    }

    /// Stopping inside pretraining and resuming gives the uninterrupted run's parameters exactly.
    func testResumeInsidePretrainingIsBitIdentical() throws {
        let whole = Self.config(pretrainEpochs: 3, fineTuneEpochs: 1)
        XCTAssertNotNil(try Experiment(config: whole, world: SingleProcessCommunicator()) { try SliceEncoders.make($0) }.run())
        var stopped = Self.config(pretrainEpochs: 3, fineTuneEpochs: 1)
        stopped.data.root = whole.data.root
        let experiment = Experiment(config: stopped, world: SingleProcessCommunicator()) { try SliceEncoders.make($0) }
        XCTAssertNil(try experiment.run(stopAfterEpochs: 2))
        let seed = URL(fileURLWithPath: stopped.output.dir).appendingPathComponent("seed_0")
        XCTAssertFalse(FileManager.default.fileExists(atPath: seed.appendingPathComponent("pretrain/encoder.safetensors").path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: seed.appendingPathComponent("checkpoints").path))
        XCTAssertNotNil(try experiment.run(resume: .auto))
        func finalParams(_ c: ExperimentConfig) throws -> [Float] {
            let store = CheckpointStore(root: URL(fileURLWithPath: c.output.dir).appendingPathComponent("seed_0/checkpoints"), keep: .max)
            return try XCTUnwrap(store.latestValid().checkpoint).params.flatMap(\.1.data)
        }
        XCTAssertEqual(try finalParams(stopped), try finalParams(whole))
    }

    func testConfigValidationAndShippedConfigs() throws {
        XCTAssertThrowsError(try ConfigLoader.load(file: nil, overrides: ["pretrain.method=simclr"])) { error in
            XCTAssertTrue("\(error)".contains("head.kind unet"), "\(error)")
        }
        XCTAssertThrowsError(try ConfigLoader.load(file: nil, overrides: ["pretrain.method=byol"]))
        XCTAssertThrowsError(try ConfigLoader.load(file: nil, overrides: ["head.kind=unet", "pretrain.method=simclr", "pretrain.batch_size=1"]))
        XCTAssertThrowsError(try ConfigLoader.load(file: nil, overrides: ["pretrain.temprature=0.1"])) { error in
            XCTAssertTrue("\(error)".contains("temperature"), "a did-you-mean names the key: \(error)")
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for name in ["simclr_train1", "simclr_train5", "simclr_demo"] {
            let c = try ConfigLoader.load(file: root.appendingPathComponent("configs/baselines/\(name).json"))
            XCTAssertEqual(c.pretrain.method, "simclr", name)
            XCTAssertEqual(c.pretrain.temperature, 0.5, name)
            XCTAssertEqual(c.name, name)
        }
    }
}
