import Collectives
import Datasets
import Foundation
import Metrics
import XCTest
@testable import Config
@testable import Evaluation
@testable import Runs

/// `predict --ensemble` on `TinyEnsembleRun`: the files it writes, the scores of the test split,
/// and the runs it refuses before writing anything.
final class EnsemblePredictionTests: XCTestCase {
    private var run: URL { TinyEnsembleRun.shared.folder }

    private func temporaryFolder() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("ensemble-\(UUID().uuidString)")
    }

    private func assertError<T>(_ body: @autoclosure () throws -> T, contains texts: [String], line: UInt = #line) {
        XCTAssertThrowsError(try body(), line: line) { error in
            for text in texts { XCTAssertTrue("\(error)".contains(text), "\(error) lacks \(text)", line: line) }
        }
    }

    /// Every file name in `folder`, recursively.
    private func listing(_ folder: URL) throws -> [String] {
        try FileManager.default.subpathsOfDirectory(atPath: folder.path).sorted()
    }

    /// The run's test volumes as image files (what a user would give `--input`).
    private func testImages() throws -> [URL] {
        let config = TinyEnsembleRun.shared.config
        let split = try SplitPlan.read(run.appendingPathComponent("split.json")).fold(config.data.fold)
        return try DatasetIndex.scan(URL(fileURLWithPath: config.data.root)).volumes(of: split.test).map { source in
            guard case let .nifti(image, _) = source.storage else { preconditionFailure("phantom data is NIfTI") }
            return image
        }
    }

    func testUncertaintyMapsHaveTheInputsGeometry() throws {
        let ensemble = try EnsemblePrediction(run: run)
        XCTAssertEqual(ensemble.summaryMembers.map(\.seed), [0, 1])
        let images = try testImages(), out = temporaryFolder()
        for kind in EnsembleUncertainty.allCases {
            let written = try ensemble.predictFiles(images, to: out, comm: SingleProcessCommunicator(),
                                                    uncertainty: kind, encoderFactory: TinyRun.encoderFactory)
            XCTAssertEqual(written.count, 2 * images.count)
            for image in images {
                let stem = NIfTIStack.stem(image.lastPathComponent)!
                let input = try NIfTIImage(contentsOf: image)
                let labels = try NIfTIImage(contentsOf: out.appendingPathComponent(stem + ".nii.gz"))
                let map = try NIfTIImage(contentsOf: out.appendingPathComponent(stem + "_uncertainty.nii.gz"))
                for output in [labels, map] {
                    XCTAssertEqual(output.shape, input.shape)
                    XCTAssertEqual(output.header.pixdim, input.header.pixdim)
                    XCTAssertEqual(output.header.affine, input.header.affine)
                }
                XCTAssertEqual(labels.header.datatype, .uint8)
                XCTAssertEqual(map.header.datatype, .float32)
                let limit = kind == .entropy ? Float(log(4.0)) + 1e-5 : 0.5
                XCTAssertTrue(map.data.allSatisfy { $0 >= 0 && $0 <= limit }, "\(kind) out of range")
                XCTAssertTrue(map.data.contains { $0 > 0 }, "\(kind) is zero everywhere")
            }
        }
    }

    /// The test split scored: the seeds' rows are exactly training's own test results (the same
    /// checkpoints and forward passes), the ensemble's are its test_volumes.csv.
    func testTestSplitIsScoredBesideTheSeeds() throws {
        let copy = try TinyEnsembleRun.copy()
        let ensemble = try EnsemblePrediction(run: copy)
        let summary = try XCTUnwrap(try ensemble.evaluateTestSplit(comm: SingleProcessCommunicator(),
                                                                  uncertainty: .entropy,
                                                                  encoderFactory: TinyRun.encoderFactory))
        XCTAssertEqual(try EnsembleSummary.read(run: copy), summary)
        let training = try RunSummary.read(run: copy)
        XCTAssertEqual(summary.perSeed, training.perSeed)
        XCTAssertEqual(summary.members.map(\.seed), training.seeds)
        XCTAssertEqual(summary.members.map(\.epoch), [8, 8])
        let csv = try String(contentsOf: copy.appendingPathComponent("ensemble/test_volumes.csv"), encoding: .utf8)
        XCTAssertTrue(csv.hasPrefix(ScoreCSV.header))
        XCTAssertEqual(csv.split(separator: "\n").count, 1 + summary.volumes.count * 3)
        let predictions = try listing(copy.appendingPathComponent("ensemble/predictions"))
        XCTAssertEqual(predictions, summary.volumes.flatMap { [$0 + ".nii.gz", $0 + "_uncertainty.nii.gz"] }.sorted())
        XCTAssertTrue(summary.comparison.contains("seed ensemble Dice"), summary.comparison)
        XCTAssertEqual(summary.table().rows.map(\.label).last, "tiny-ensemble seed ensemble")
    }

    func testRunsThatCannotBeEnsembledAreRefusedBeforeAnythingIsWritten() throws {
        assertError(try EnsemblePrediction(run: TinyRun.shared.folder),
                    contains: [TinyRun.shared.folder.path, "at least 2 seeds"])
        let noCheckpoint = try TinyEnsembleRun.copy()
        try FileManager.default.removeItem(at: noCheckpoint.appendingPathComponent("seed_1/checkpoints"))
        let before = try listing(noCheckpoint)
        let missing = noCheckpoint.appendingPathComponent("seed_1/checkpoints").path
        assertError(try EnsemblePrediction(run: noCheckpoint), contains: [missing, "no complete checkpoint"])
        XCTAssertEqual(try listing(noCheckpoint), before)
        // seed 1 trained with a wider head
        var wide = TinyRun.config(in: temporaryFolder())
        wide.data.root = TinyEnsembleRun.shared.config.data.root
        (wide.head.channels, wide.optim.epochs, wide.seeds) = (8, 1, [1])
        let other = try TinyRun.train(wide)
        let mixed = try TinyEnsembleRun.copy()
        try FileManager.default.removeItem(at: mixed.appendingPathComponent("seed_1"))
        try FileManager.default.copyItem(at: other.appendingPathComponent("seed_1"),
                                         to: mixed.appendingPathComponent("seed_1"))
        let mixedBefore = try listing(mixed)
        assertError(try EnsemblePrediction(run: mixed), contains: [mixed.appendingPathComponent("seed_1").path,
                                                                   "head.channels"])
        XCTAssertEqual(try listing(mixed), mixedBefore)
    }
}
