import Config
import XCTest
@testable import Experiments

/// `CostPlan`'s model, phase by phase, on round unit costs (the projection arithmetic; the unit
/// costs themselves are measured by `autosam bench plan`).
final class CostPlanTests: XCTestCase {
    let units = CostPlan.UnitCosts(encoderPass: 1, headStepOne: 0.1, headStepBatch: 0.4, batchSize: 4,
                                   forwardPerSlice: 0.01, checkpointWrite: 0.5, parameters: 1_000_000, latency: 1e-4,
                                   bandwidth: 1e9)

    func workload(_ edit: (inout ExperimentConfig) -> Void = { _ in }) -> CostPlan.Workload {
        var c = ExperimentConfig()
        c.seeds = [0, 1]
        c.optim.epochs = 10
        c.optim.batch_size = 4
        c.data.augmentation = .none
        edit(&c)
        return CostPlan.Workload(config: c, train: 40, validation: 20, test: 30, unlabelled: 100)
    }

    func testOneRank() {
        let p = CostPlan.project(workload(), units, ranks: 1)
        XCTAssertEqual(p.cache, 90, "validation + test + training clean views, one encoder pass each")
        let epoch: Double = 10 * 0.4 + 0.5
        XCTAssertEqual(p.training, 10 * epoch, accuracy: 1e-9, "10 epochs of 10 steps of 4 slices + a checkpoint")
        XCTAssertEqual(p.validation, 2.0, accuracy: 1e-9, "10 epochs x 20 slices x 0.01 s")
        XCTAssertEqual(p.test, 0.3, accuracy: 1e-9)
        XCTAssertEqual(p.seedGroups, 1)
        XCTAssertEqual(p.seedsWall, 2 * p.perSeed, accuracy: 1e-9, "seeds one after another")
        XCTAssertEqual(p.total, p.cache + p.seedsWall, accuracy: 1e-9)
    }

    func testRanksShardTheWorkAndPayTheAllReduce() {
        let one = CostPlan.project(workload(), units, ranks: 1)
        let two = CostPlan.project(workload(), units, ranks: 2)
        XCTAssertEqual(two.cache, 45)
        XCTAssertEqual(two.seedGroups, 2, "two seeds on two ranks train in parallel")
        XCTAssertEqual(two.ranksPerGroup, 1)
        XCTAssertEqual(two.seedsWall, two.perSeed, accuracy: 1e-9)
        XCTAssertLessThan(two.total, one.total)
        let eight = CostPlan.project(workload(), units, ranks: 8)
        XCTAssertEqual(eight.ranksPerGroup, 4)
        // A step of 1 slice per rank plus a ring all-reduce of 4 MB over 4 ranks and the agreement.
        let allReduce: Double = 2 * 2 * 1e-4 + 2 * 0.75 * 4e6 / 1e9
        let step: Double = 0.1 + allReduce + 1e-4
        let expected: Double = 10 * (10 * step + 0.5)
        XCTAssertEqual(eight.training, expected, accuracy: 1e-9)
        XCTAssertEqual(eight.validation, 0.5, accuracy: 1e-9, "10 epochs x 5 slices per rank x 0.01 s")
        // Beyond the batch size, more ranks only add all-reduce cost.
        let many = CostPlan.project(workload(), units, ranks: 128)
        XCTAssertGreaterThan(many.training, eight.training)
    }

    func testAugmentationModesAndBaselines() {
        let reference = CostPlan.project(workload { $0.data.augmentation = .reference }, units, ranks: 1)
        XCTAssertEqual(reference.cache, 50, "only evaluation entries are cached")
        let referenceStep: Double = 4 * 1 + 0.4
        XCTAssertEqual(reference.training, 10 * (10 * referenceStep + 0.5), accuracy: 1e-9,
                       "an encoder pass per slice per step")
        let bank = CostPlan.project(workload { $0.data.augmentation = .bank; $0.data.bank_views = 3 }, units, ranks: 1)
        XCTAssertEqual(bank.cache, Double(50 + 40 * 3))
        let box = CostPlan.project(workload { $0.head.kind = .samBox }, units, ranks: 2)
        XCTAssertEqual(box.total, 15, "one encoder pass per test slice, sharded")
        let simclr = CostPlan.project(workload { $0.head.kind = .unet; $0.pretrain.method = .simclr
            $0.pretrain.epochs = 2; $0.pretrain.batch_size = 32 }, units, ranks: 1)
        // 100 slices in steps of 32: 3 full steps and one of 4; each a step on 2 x 32 views.
        XCTAssertEqual(simclr.pretraining, 2 * 4 * units.headStep(64), accuracy: 1e-9)
    }

    /// Cached embeddings are read once per slice per step and per validated or tested slice (at
    /// their measured costs); without a cache every such slice is an encoder pass.
    func testCacheReadsAndNoCache() {
        var reads = units
        (reads.cacheReadTrain, reads.cacheReadEvaluation) = (0.02, 0.03)
        let base = CostPlan.project(workload(), units, ranks: 1)
        let cached = CostPlan.project(workload(), reads, ranks: 1)
        let readsPerRun: Double = 10 * 10 * 4 * 0.02
        XCTAssertEqual(cached.training - base.training, readsPerRun, accuracy: 1e-9, "4 reads per step")
        XCTAssertEqual(cached.validation - base.validation, 10 * 20 * 0.03, accuracy: 1e-9)
        XCTAssertEqual(cached.test - base.test, 30 * 0.03, accuracy: 1e-9)
        let uncached = CostPlan.project(workload { $0.cache.enabled = false }, reads, ranks: 1)
        XCTAssertEqual(uncached.cache, 0)
        let uncachedStep: Double = 4 * 1 + 0.4
        XCTAssertEqual(uncached.training, 10 * (10 * uncachedStep + 0.5), accuracy: 1e-9,
                       "an encoder pass per slice per step")
        let uncachedTest: Double = 30 * (0.01 + 1)
        XCTAssertEqual(uncached.test, uncachedTest, accuracy: 1e-9)
    }
}
