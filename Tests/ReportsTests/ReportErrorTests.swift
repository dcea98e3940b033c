import Foundation
import TestSupport
import XCTest
@testable import Reports

/// Damaged or incomplete run folders: a clear error naming the file, a non-zero exit from the
/// command, and no report file left behind.
final class ReportErrorTests: XCTestCase {
    /// `autosam report` on `run`, writing to `<run>/report.html`; the outcome and whether the file exists.
    private func cli(_ run: URL, _ extra: [String] = []) throws -> (ProcessRunner.Outcome, Bool) {
        let outcome = try ProcessRunner.run(ProcessRunner.autosam.path, ["report", run.path] + extra, timeout: 60)
        return (outcome, FileManager.default.fileExists(atPath: run.appendingPathComponent("report.html").path))
    }

    func testMissingPredictionNamesTheFile() throws {
        let run = try TinyReportRun.copy()
        let worst = try XCTUnwrap(TinyReportRun.meanDice(csv: run.appendingPathComponent("seed_1/test_volumes.csv"))
            .min { $0.value < $1.value }?.key)
        let missing = run.appendingPathComponent("seed_1/predictions/\(worst).nii.gz")
        try FileManager.default.removeItem(at: missing)
        XCTAssertThrowsError(try Report.build(runs: [run])) { error in
            XCTAssertEqual((error as? ReportError)?.path, missing.path, "\(error)")
        }
        let (outcome, written) = try cli(run)
        XCTAssertNotEqual(outcome.status, 0, outcome.output)
        XCTAssertTrue(outcome.stderr.contains(missing.path), outcome.output)
        XCTAssertTrue(outcome.stderr.contains("missing prediction"), outcome.output)
        XCTAssertFalse(written, "no report after an error")
        // Without the drawings the same folder reports.
        let (ok, done) = try cli(run, ["--no-overlays"])
        XCTAssertEqual(ok.status, 0, ok.output)
        XCTAssertTrue(done)
    }

    func testTruncatedMetricsLogNamesFileAndLine() throws {
        let run = try TinyReportRun.copy()
        let log = run.appendingPathComponent("seed_0/metrics.jsonl")
        let bytes = try Data(contentsOf: log)
        try bytes.prefix(bytes.count - 20).write(to: log)      // cut inside the last line
        XCTAssertThrowsError(try Report.build(runs: [run], options: ReportOptions(overlays: false))) { error in
            let report = error as? ReportError
            XCTAssertEqual(report?.path, log.path, "\(error)")
            XCTAssertTrue(report?.message.contains("line \(TinyReportRun.epochs)") == true, "\(error)")
        }
        let (outcome, written) = try cli(run, ["--no-overlays"])
        XCTAssertNotEqual(outcome.status, 0, outcome.output)
        XCTAssertTrue(outcome.stderr.contains(log.path), outcome.output)
        XCTAssertFalse(written)
    }

    func testFolderWithoutRunsIsRefused() throws {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("report-empty-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        XCTAssertThrowsError(try Report.runFolders([empty])) { error in
            XCTAssertTrue("\(error)".contains("summary.json"), "\(error)")
        }
        let (outcome, _) = try cli(empty)
        XCTAssertNotEqual(outcome.status, 0)
    }
}
