import Collectives
import Embeddings
import Evaluation
import Foundation
import XCTest
@testable import Reports

/// The report's "Seed ensemble" part: shown when `predict --ensemble` scored the test split,
/// absent otherwise, refused with the file named when the summary is damaged.
final class EnsembleReportTests: XCTestCase {
    func testEnsembleSectionShowsTheEnsembleBesideTheSeeds() throws {
        let run = try TinyReportRun.copy()
        let summary = try XCTUnwrap(try EnsemblePrediction(run: run).evaluateTestSplit(
            comm: SingleProcessCommunicator(), uncertainty: nil, encoderFactory: { try SliceEncoders.make($0) }))
        let html = try Report.build(runs: [run], options: ReportOptions(overlays: false)).html
        HTMLChecks.assertBalanced(html)
        XCTAssertTrue(html.contains(">Seed ensemble</h3>"))
        XCTAssertTrue(html.contains(HTML.escape(summary.comparison)), "the Dice comparison is missing")
        let tables = HTMLChecks.captures("<table class=\"results\">(.*?)</table>", in: html)
        let ensembleTable = try XCTUnwrap(tables.first { $0.contains("seed ensemble") })
        let rows = HTMLChecks.captures("<tr><td>(.*?)</tr>", in: ensembleTable)
        XCTAssertEqual(rows.count, summary.members.count + 2)
        let ensembleDice = try XCTUnwrap(summary.ensemble.average.dice.mean)
        XCTAssertTrue(try XCTUnwrap(rows.last).contains(String(format: "%.3f", ensembleDice)))
        for member in summary.members { XCTAssertTrue(html.contains(HTML.escape(member.checkpoint))) }
        for volume in summary.volumes {
            XCTAssertTrue(html.contains("<td>\(HTML.escape(volume))</td>"), "volume \(volume) not listed")
        }
    }

    func testNoEnsembleNoSectionAndADamagedSummaryIsNamed() throws {
        let plain = try Report.build(runs: [TinyReportRun.shared.folder], options: ReportOptions(overlays: false))
        XCTAssertFalse(plain.html.contains("Seed ensemble"))
        let run = try TinyReportRun.copy()
        let file = run.appendingPathComponent(EnsembleSummary.fileName)
        try Data("{".utf8).write(to: file)
        XCTAssertThrowsError(try Report.build(runs: [run], options: ReportOptions(overlays: false))) { error in
            XCTAssertTrue("\(error)".contains(file.path), "\(error)")
        }
    }
}
