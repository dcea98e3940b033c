import Config
import Foundation
import XCTest
@testable import Reports

/// A combined report of several runs: the comparison table, and mean Dice against the number
/// of training patients with one line per method.
final class SuiteReportTests: XCTestCase {
    /// Two copies of the tiny run in one folder, the second relabelled as trained on 2 patients.
    func testSuiteFolderGivesComparisonAndOneLinePerMethod() throws {
        let first = try TinyReportRun.copy(named: "unet_train1")
        let second = first.deletingLastPathComponent().appendingPathComponent("unet_train2")
        try FileManager.default.copyItem(at: first, to: second)
        var config = try ConfigLoader.load(file: second.appendingPathComponent("config.json"))
        config.data.train_size = 2
        try ConfigLoader.render(config).write(to: second.appendingPathComponent("config.json"), atomically: true,
                                              encoding: .utf8)
        let suite = first.deletingLastPathComponent()
        let folders = try Report.runFolders([suite])
        XCTAssertEqual(folders.map(\.lastPathComponent), ["unet_train1", "unet_train2"])
        let html = try Report.build(runs: folders, options: ReportOptions(overlays: false)).html
        HTMLChecks.assertSelfContained(html)
        HTMLChecks.assertBalanced(html)
        let results = HTMLChecks.captures("<table class=\"results\">(.*?)</table>", in: html)
        XCTAssertEqual(results.count, 3, "the comparison and each run's table")
        XCTAssertEqual(HTMLChecks.captures("<tr><td>(.*?)</tr>", in: results[0]).count, 2)
        let lines = HTMLChecks.captures("data-series=\"([^\"]*)\"[^>]*points=\"[^\"]*\"", in: html)
            .filter { $0 == "UNet" }
        XCTAssertEqual(lines.count, 1, "one line for the one method")
        let points = try XCTUnwrap(HTMLChecks.captures("data-series=\"UNet\"[^>]*points=\"([^\"]*)\"", in: html).first)
        XCTAssertEqual(points.split(separator: " ").count, 2, "one point per training-set size")
    }

    func testMethodsAreQualifiedOnlyByWhatTellsThemApart() {
        var autosamB = ExperimentConfig(), autosamH = ExperimentConfig(), unet = ExperimentConfig()
        autosamB.encoder.preset = .vitB
        autosamH.encoder.preset = .vitH
        unet.head.kind = .unet
        var simclr = unet
        simclr.pretrain.method = .simclr
        XCTAssertEqual(Method.labels([autosamB, autosamH, unet, simclr]),
                       ["AutoSAM (encoder vit_b)", "AutoSAM (encoder vit_h)", "UNet", "SimCLR UNet"])
    }
}
