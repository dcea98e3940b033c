import Foundation
import XCTest
@testable import Datasets

final class SplitTests: TemporaryDirectoryTestCase {
    private let patients = (1...100).map { String(format: "patient%03d", $0) }

    func testSeventyFifteenFifteenPartitionInFiveFolds() {
        let plan = SplitPlan(patients: patients.reversed(), seed: 3)
        XCTAssertEqual(plan.patients, patients)
        XCTAssertEqual(plan.folds.count, 5)
        for split in plan.folds {
            XCTAssertEqual([split.train.count, split.val.count, split.test.count], [70, 15, 15])
            XCTAssertEqual((split.train + split.val + split.test).sorted(), patients)
        }
        XCTAssertEqual(Set(plan.folds.map(\.train)).count, 5, "folds are different shuffles")
        let small = SplitPlan(patients: Array(patients.prefix(10)), seed: 1).folds[0]
        XCTAssertEqual([small.train.count, small.val.count, small.test.count], [7, 1, 2])
        let tiny = SplitPlan(patients: Array(patients.prefix(4)), seed: 1).folds[0]
        XCTAssertEqual([tiny.train.count, tiny.val.count, tiny.test.count], [2, 1, 1])
    }

    func testSameSeedSameSplitOtherSeedOtherSplit() {
        XCTAssertEqual(SplitPlan(patients: patients, seed: 42), SplitPlan(patients: patients.shuffled(), seed: 42))
        XCTAssertNotEqual(SplitPlan(patients: patients, seed: 42).folds[0].train,
                          SplitPlan(patients: patients, seed: 43).folds[0].train)
    }

    func testTrainSizeKeepsTheFirstTrainingPatients() throws {
        let split = SplitPlan(patients: patients, seed: 7).folds[2]
        XCTAssertEqual(try split.trainPatients(trainSize: 1), [split.train[0]])
        XCTAssertEqual(try split.trainPatients(trainSize: 5), Array(split.train.prefix(5)))
        XCTAssertEqual(try split.trainPatients(trainSize: nil), split.train)
        XCTAssertThrowsError(try split.trainPatients(trainSize: 71))
        XCTAssertThrowsError(try split.trainPatients(trainSize: 0))
    }

    func testTrainSizeBringsBothFramesOfAPatient() throws {
        try writeACDCPatient("patient001")
        try writeACDCPatient("patient002")
        try writeACDCPatient("patient003")
        let index = try DatasetIndex.scan(tmp.appendingPathComponent("acdc"))
        let split = SplitPlan(patients: index.patients, seed: 0).folds[0]
        let first = try split.trainPatients(trainSize: 1)
        let set = try SliceSet(index: index, patients: first)
        XCTAssertEqual(set.volumes.map(\.name), [first[0] + "_frame01", first[0] + "_frame05"])
        let sets = try index.sliceSets(split, trainSize: 1)
        XCTAssertEqual(sets.train.volumes.map(\.name), set.volumes.map(\.name))
        XCTAssertEqual(sets.val.volumes.map(\.patient), [split.val[0], split.val[0]])
        XCTAssertEqual(sets.test.volumes.map(\.patient), [split.test[0], split.test[0]])
    }

    func testWrittenAsReadableJSONAndReused() throws {
        let url = tmp.appendingPathComponent("splits.json")
        let plan = try SplitPlan.loadOrCreate(at: url, patients: patients, seed: 5)
        let text = try String(contentsOf: url, encoding: .utf8)
        XCTAssertTrue(text.contains("\"train\" : ["), "pretty-printed JSON")
        XCTAssertTrue(text.contains("\"patient0"))
        // A hand-edited file is what the next run uses.
        var edited = plan.folds
        edited[0] = Split(fold: 0, train: plan.folds[0].train.reversed(), val: plan.folds[0].val,
                          test: plan.folds[0].test)
        try SplitPlan(seed: 5, patients: patients, folds: edited).write(to: url)
        let reused = try SplitPlan.loadOrCreate(at: url, patients: patients, seed: 5)
        XCTAssertEqual(reused.folds[0].train, plan.folds[0].train.reversed())
    }

    func testStoredSplitThatDoesNotMatchIsAnError() throws {
        let url = tmp.appendingPathComponent("splits.json")
        _ = try SplitPlan.loadOrCreate(at: url, patients: patients, seed: 5)
        assertDatasetError(.inconsistent, file: "splits.json") {
            _ = try SplitPlan.loadOrCreate(at: url, patients: patients, seed: 6)
        }
        assertDatasetError(.inconsistent, file: "splits.json") {
            _ = try SplitPlan.loadOrCreate(at: url, patients: Array(patients.dropLast()), seed: 5)
        }
        try Data("{\"seed\": 1}".utf8).write(to: url)
        assertDatasetError(.corrupt, file: "splits.json") {
            _ = try SplitPlan.loadOrCreate(at: url, patients: patients, seed: 1)
        }
    }
}
