import Collectives
import Datasets
import Foundation
import Tensors
import XCTest
@testable import Baselines
@testable import Config
@testable import Embeddings
@testable import Evaluation
@testable import Experiments
@testable import Runs
@testable import Training

/// The UNet baseline end to end through the unchanged distributed trainer: `head.kind = unet`
/// selects the UNet and the identity encoder, and training from pixels clearly beats the
/// untrained network on the phantom test volumes.
final class UNetBaselineTests: XCTestCase {
    static let dataRoot = TinyRun.phantomData(patients: 5, seed: 3)

    /// The tiny run of `TinyRun` with a small UNet instead of the CNN head, without the cache.
    func config(epochs: Int, lr: Float) -> ExperimentConfig {
        var c = TinyRun.config(in: FileManager.default.temporaryDirectory
                                   .appendingPathComponent("autosam-unet-\(UUID().uuidString)"))
        c.name = "unet-baseline-test"
        c.data.layout = .auto
        c.data.root = Self.dataRoot.path
        c.head.kind = .unet
        c.optim.epochs = epochs
        c.optim.lr = lr
        c.optim.scheduler = .none
        c.cache.enabled = false
        return c
    }

    /// Mean test Dice over the foreground classes, on 2 in-process ranks.
    func testDice(_ c: ExperimentConfig) throws -> Double {
        let summaries = try LocalGroup.run(size: 2) { comm -> RunSummary? in
            try Experiment(config: c, world: comm) { try SliceEncoders.make($0) }.run()
        }
        return try XCTUnwrap(summaries[0]?.overSeeds.average.dice.mean)
    }

    func testConfigSelectsTheUNetAndTheIdentityEncoder() throws {
        let c = config(epochs: 1, lr: 1e-3)
        let encoder = try SliceEncoders.make(c)
        XCTAssertTrue(encoder is IdentitySliceEncoder)
        XCTAssertEqual(encoder.embeddingShape, [3, 32, 32])
        XCTAssertEqual(encoder.cacheKey, "identity-reference")
        XCTAssertThrowsError(try ConfigLoader.load(file: nil, overrides: ["head.kind=unet", "head.depth=5",
                                                                          "data.slice_size=48"]))
        XCTAssertNoThrow(try ConfigLoader.load(file: nil, overrides: ["head.kind=unet", "head.depth=4",
                                                                      "data.slice_size=224"]))
    }

    /// The shipped baseline configs load and select the UNet (package root located from this file).
    func testShippedUNetConfigsLoad() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        for name in ["unet_train1", "unet_train5", "unet_demo"] {
            let c = try ConfigLoader.load(file: root.appendingPathComponent("configs/baselines/\(name).json"))
            XCTAssertEqual(c.head.kind, .unet, name)
            XCTAssertEqual(c.name, name)
        }
    }

    /// Training from [0, 1] pixels (the reference's input) clearly beats the untrained network.
    /// Logged numbers (release, 2 ranks, Cooperlake / Haswell / Prescott kernels): untrained
    /// 0.024, trained 0.368 / 0.320 / 0.305 mean foreground Dice, the same on every run (before
    /// `LocalGroup` pinned OpenBLAS to one thread per rank, Haswell and Prescott runs varied from 0.21
    /// to 0.40 with the timing of the ranks' threads); the asserted gain of 0.2 leaves room for other
    /// kernels' trajectories.
    func testTrainedUNetBeatsTheUntrainedOne() throws {
        let untrained = try testDice(config(epochs: 1, lr: 1e-9))
        let trained = try testDice(config(epochs: 40, lr: 5e-3))
        print("UNet baseline on phantom test volumes: mean foreground Dice untrained \(untrained), trained \(trained)")
        XCTAssertGreaterThan(trained, untrained + 0.2, "untrained \(untrained), trained \(trained)")
    }
}
