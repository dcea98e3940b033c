import Datasets
import Foundation
import Metrics
import TestSupport
import XCTest
@testable import Baselines
@testable import Config
@testable import Embeddings
@testable import Evaluation
@testable import Experiments
@testable import Runs
@testable import Training

final class FolderEvaluationTests: XCTestCase {
    private var root: URL!
    // Anisotropic spacing (x 1.5, y 2, z 10 mm) so that a swapped axis changes the distances.
    private let spacing = [1.5, 2.0, 10.0]
    private let (nx, ny, nz) = (7, 6, 3)

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("foldereval-\(UUID().uuidString)")
    }

    /// A label volume (x fastest) with class c inside a box that grows with `offset`.
    private func labels(offset: Int) -> [Float] {
        var v = [Float](repeating: 0, count: nx * ny * nz)
        for z in 0..<nz {
            for y in 0..<ny {
                for x in 0..<nx {
                    let c: Float = x < 2 + offset ? 1 : (y < 3 ? 2 : (z == 1 && x > 4 ? 3 : 0))
                    v[(z * ny + y) * nx + x] = c
                }
            }
        }
        return v
    }

    @discardableResult
    private func write(_ values: [Float], _ relative: String, shape: [Int]? = nil) throws -> URL {
        let url = root.appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let header = NIfTIHeader(shape: shape ?? [nx, ny, nz], spacing: spacing, datatype: .uint8)
        try NIfTIImage(header: header, data: values).write(to: url)
        return url
    }

    private func expectedScores(_ name: String, prediction: [Float], reference: [Float]) -> VolumeScores {
        VolumeEvaluator.evaluate(name: name, prediction: prediction.map { UInt8($0) },
                                 reference: reference.map { UInt8($0) }, shape: VolumeShape(z: nz, y: ny, x: nx),
                                 spacing: VoxelSpacing(z: spacing[2], y: spacing[1], x: spacing[0]),
                                 classCount: 4, mode: .standard)
    }

    func testACDCStyleLabelTreeMatchesPredictionsByNameAndScoresWithTheLabelSpacing() throws {
        let (labelA, labelB) = (labels(offset: 0), labels(offset: 1))
        let (predA, predB) = (labels(offset: 1), labels(offset: 2))
        try write(labelA, "labels/p1/a_gt.nii.gz")
        try write([Float](repeating: 5, count: nx * ny * nz), "labels/p1/a.nii.gz")     // the image, not a label
        try write(labelB, "labels/p2/b_gt.nii")
        try write(labelB, "labels/p2/c_gt.nii.gz")                                       // no prediction: left out
        try write(predA, "preds/a.nii.gz")
        try write(predB, "preds/b_pred.nii.gz")
        let evaluation = try FolderEvaluation.match(predictions: root.appendingPathComponent("preds"),
                                                    labels: root.appendingPathComponent("labels"))
        XCTAssertEqual(evaluation.pairs.map(\.name), ["a", "b"])
        XCTAssertEqual(evaluation.pairs.map(\.label.lastPathComponent), ["a_gt.nii.gz", "b_gt.nii"])
        XCTAssertEqual(evaluation.unmatchedLabels, ["c"])
        let scores = try evaluation.evaluate(classes: 4, mode: .standard)
        XCTAssertEqual(scores, [expectedScores("a", prediction: predA, reference: labelA),
                                expectedScores("b", prediction: predB, reference: labelB)])
        XCTAssertNotEqual(scores[0].classes[0].assd, 0, "the chosen volumes must give non-trivial distances")
    }

    func testPlainLabelFolderUsesIdenticalNames() throws {
        try write(labels(offset: 0), "labels/case1.nii.gz")
        try write(labels(offset: 1), "preds/case1.nii")
        let evaluation = try FolderEvaluation.match(predictions: root.appendingPathComponent("preds"),
                                                    labels: root.appendingPathComponent("labels"))
        XCTAssertEqual(evaluation.pairs.map(\.label.lastPathComponent), ["case1.nii.gz"])
        XCTAssertEqual(try evaluation.evaluate(classes: 4, mode: .reference).first?.classes.count, 3)
    }

    func testMissingLabelNamesThePrediction() throws {
        try write(labels(offset: 0), "labels/a_gt.nii.gz")
        let orphan = try write(labels(offset: 0), "preds/zz.nii.gz")
        assertError(try FolderEvaluation.match(predictions: root.appendingPathComponent("preds"),
                                               labels: root.appendingPathComponent("labels")),
                    contains: [orphan.path, "zz_gt.nii[.gz]"])
        assertError(try FolderEvaluation.match(predictions: root.appendingPathComponent("nothing"),
                                               labels: root.appendingPathComponent("labels")),
                    contains: [root.appendingPathComponent("nothing").path, "does not exist"])
    }

    func testShapeMismatchNamesBothFiles() throws {
        let label = try write(labels(offset: 0), "labels/a_gt.nii.gz")
        let prediction = try write([Float](repeating: 0, count: nx * ny * 2), "preds/a.nii.gz", shape: [nx, ny, 2])
        let evaluation = try FolderEvaluation.match(predictions: prediction.deletingLastPathComponent(),
                                                    labels: label.deletingLastPathComponent())
        assertError(try evaluation.evaluate(classes: 4, mode: .standard),
                    contains: [prediction.path, label.path, "3x6x7"])
    }

    func testDuplicateNamesAndOutOfRangeValuesAreErrors() throws {
        try write(labels(offset: 0), "labels/a_gt.nii.gz")
        try write(labels(offset: 0), "preds/a.nii.gz")
        try write(labels(offset: 0), "preds/a_pred.nii")
        assertError(try FolderEvaluation.match(predictions: root.appendingPathComponent("preds"),
                                               labels: root.appendingPathComponent("labels")),
                    contains: ["volume name 'a'"])
        try FileManager.default.removeItem(at: root.appendingPathComponent("preds/a_pred.nii"))
        var bad = labels(offset: 0)
        bad[5] = 7
        let prediction = try write(bad, "preds/a.nii.gz")
        let evaluation = try FolderEvaluation.match(predictions: root.appendingPathComponent("preds"),
                                                    labels: root.appendingPathComponent("labels"))
        assertError(try evaluation.evaluate(classes: 4, mode: .standard), contains: [prediction.path, "value 7.0"])
    }

    func testReportIsWrittenAsCSVAndSummaryJSON() throws {
        try write(labels(offset: 0), "labels/a_gt.nii.gz")
        try write(labels(offset: 1), "preds/a.nii.gz")
        let (preds, labelDir) = (root.appendingPathComponent("preds"), root.appendingPathComponent("labels"))
        let evaluation = try FolderEvaluation.match(predictions: preds, labels: labelDir)
        let scores = try evaluation.evaluate(classes: 4, mode: .standard)
        let report = FolderEvaluationReport(evaluation, predictions: preds, labels: labelDir, classes: 4,
                                            mode: .standard, scores: scores)
        let out = root.appendingPathComponent("out/nested")
        try FolderEvaluationReport.write(report, scores: scores, to: out)
        let csv = try String(contentsOf: out.appendingPathComponent("volumes.csv"), encoding: .utf8)
        XCTAssertEqual(csv, ScoreCSV.perVolume(scores, classNames: ClassNames.acdc))
        let back = try JSONDecoder().decode(FolderEvaluationReport.self,
                                            from: Data(contentsOf: out.appendingPathComponent("summary.json")))
        XCTAssertEqual(back.summary, ScoreSummary(volumes: scores, classNames: ClassNames.acdc, mode: .standard))
        XCTAssertEqual(back.volumes, ["a"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out.path).sorted(),
                       ["summary.json", "volumes.csv"])
    }

    func testRunSummaryTableHasOneRowPerSeedAndTheMean() throws {
        let run = TinyRun.shared.folder
        let summary = try RunSummary.read(run: run)
        let table = summary.table(metrics: [.dice, .hd95]).render()
        XCTAssertEqual(table, ResultsTable(rows: [.init(label: "tiny seed 0", summary: summary.perSeed[0]),
                                                  .init(label: "tiny (1 seeds)", summary: summary.overSeeds)],
                                           metrics: [.dice, .hd95]).render())
        let missing = root.appendingPathComponent("norun")
        assertError(try RunSummary.read(run: missing),
                    contains: [missing.appendingPathComponent("summary.json").path, "does not exist"])
    }

    func testScoringTheRunsPredictionFolderReproducesItsTestMetrics() throws {
        let run = TinyRun.shared.folder
        let predictions = run.appendingPathComponent("seed_0/predictions")
        let evaluation = try FolderEvaluation.match(predictions: predictions,
                                                    labels: URL(fileURLWithPath: TinyRun.shared.config.data.root))
        let scores = try evaluation.evaluate(classes: 4, mode: .standard)
        XCTAssertEqual(ScoreSummary(volumes: scores, classNames: ClassNames.acdc, mode: .standard),
                       try RunSummary.read(run: run).perSeed[0])
    }

    private func assertError<T>(_ body: @autoclosure () throws -> T, contains texts: [String], line: UInt = #line) {
        XCTAssertThrowsError(try body(), line: line) { error in
            for text in texts {
                XCTAssertTrue("\(error)".contains(text), "'\(error)' does not mention '\(text)'", line: line)
            }
        }
    }
}
