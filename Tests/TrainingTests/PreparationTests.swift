import Collectives
import Datasets
import Foundation
import TestSupport
import XCTest
@testable import Baselines
@testable import Config
@testable import Embeddings
@testable import Evaluation
@testable import Experiments
@testable import Runs
@testable import Training

final class PreparationTests: XCTestCase {
    /// A config on its own copy of the shared run's phantom data, with a fresh output folder.
    private func config(augmentation: AugmentationMode = .none) throws -> ExperimentConfig {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("prepare-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var c = TinyRun.config(in: dir)
        try FileManager.default.copyItem(at: URL(fileURLWithPath: TinyRun.shared.config.data.root),
                                         to: URL(fileURLWithPath: c.data.root))
        c.data.augmentation = augmentation
        c.data.bank_views = 2
        return c
    }

    private func experiment(_ c: ExperimentConfig) -> Experiment {
        Experiment(config: c, world: SingleProcessCommunicator(), encoderFactory: TinyRun.encoderFactory)
    }

    func testDataReportCountsEverySetOfTheSplit() throws {
        let c = try config()
        let data = try experiment(c).prepareData()
        let report = DataReport(data)
        XCTAssertEqual(report.sets.map(\.name), ["train", "val", "test"])
        XCTAssertEqual(report.sets.map(\.slices), [data.train.count, data.validation.count, data.test.count])
        XCTAssertEqual(report.sets.map(\.volumes),
                       [data.train.volumes.count, data.validation.volumes.count, data.test.volumes.count])
        XCTAssertEqual(report.sets[0].patients, Array(data.split.train.prefix(c.data.train_size)))
        XCTAssertEqual(report.sets[2].patients, data.split.test.sorted())
        XCTAssertTrue(FileManager.default.fileExists(atPath: URL(fileURLWithPath: c.output.dir)
                                                                 .appendingPathComponent("split.json").path))
        XCTAssertTrue(report.render().contains("fold 0"), report.render())
    }

    func testCacheBuildEncodesEachNeededEntryOnceThenReusesIt() throws {
        let c = try config()
        let first = try experiment(c).buildCache()
        let slices = first.slices.train + first.slices.validation + first.slices.test
        XCTAssertEqual(first.entries, slices, "augmentation none caches the clean view of every slice")
        XCTAssertEqual(first.encoded, slices)
        XCTAssertEqual(first.reused, 0)
        XCTAssertNotNil(first.secondsPerSlice)
        let second = try experiment(c).buildCache()
        XCTAssertEqual(second.encoded, 0)
        XCTAssertEqual(second.reused, slices)
        XCTAssertNil(second.secondsPerSlice)
    }

    func testBankModeAddsTheViewsOfTrainingSlices() throws {
        let c = try config(augmentation: .bank)
        let report = try experiment(c).buildCache()
        XCTAssertEqual(report.entries,
                       report.slices.validation + report.slices.test + c.data.bank_views * report.slices.train)
    }

    func testDisabledCacheIsAnError() throws {
        var c = try config()
        c.cache.enabled = false
        XCTAssertThrowsError(try experiment(c).buildCache()) { error in
            XCTAssertTrue("\(error)".contains("cache.enabled"), "\(error)")
        }
    }
}
