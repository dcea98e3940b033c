import Config
import Foundation
import XCTest
@testable import Reports

/// The paper's Figure 5 from a folder of runs: one line per method, points in increasing train
/// size whatever the folders' (alphabetical) order, train_size 0 counted as the fold's patients;
/// and a folder whose runs share one train size (Tables 2 and 3) as a table without a curve.
final class FigureLinesTests: XCTestCase {
    /// Copies of the tiny run in one folder, one per (name, head kind, depth, train size).
    func suiteFolder(_ runs: [(String, HeadKind, Int, Int)]) throws -> URL {
        let first = try TinyReportRun.copy(named: "first")
        let folder = first.deletingLastPathComponent()
        for (name, kind, depth, size) in runs {
            let run = folder.appendingPathComponent(name)
            try FileManager.default.copyItem(at: first, to: run)
            var config = try ConfigLoader.load(file: run.appendingPathComponent("config.json"))
            config.name = name
            config.head.kind = kind
            config.head.depth = depth
            config.data.train_size = size
            try ConfigLoader.render(config).write(to: run.appendingPathComponent("config.json"), atomically: true,
                                                  encoding: .utf8)
        }
        try FileManager.default.removeItem(at: first)
        return folder
    }

    /// The x coordinates of the comparison polyline of `series`.
    func xs(of series: String, in html: String) throws -> [Double] {
        let points = try XCTUnwrap(HTMLChecks.captures("data-series=\"\(series)\"[^>]*points=\"([^\"]*)\"",
                                                       in: html).first, "no line for \(series)")
        return points.split(separator: " ").map { Double($0.split(separator: ",")[0])! }
    }

    func testOneLinePerMethodWithPointsInTrainSizeOrder() throws {
        let folder = try suiteFolder([("cnn_train10", .cnn, 2, 10), ("cnn_train2", .cnn, 2, 2),
                                      ("cnn_trainall", .cnn, 2, 0), ("unet_train5", .unet, 2, 5),
                                      ("unet_train1", .unet, 2, 1)])
        let runs = try Report.runFolders([folder]).map(ReportRun.load)
        XCTAssertEqual(runs.map(\.label), ["cnn_train10", "cnn_train2", "cnn_trainall", "unet_train1", "unet_train5"])
        let all = try XCTUnwrap(runs[2].split).train.count
        let lines = SuiteReport.lines(SuiteReport.points(runs))
        XCTAssertEqual(lines.map(\.method), ["CNN head", "UNet"])
        XCTAssertEqual(lines.map { $0.points.map(\.trainSize) }, [[all, 2, 10].sorted(), [1, 5]])

        let html = try Report.build(runs: runs.map(\.folder), options: ReportOptions(overlays: false)).html
        HTMLChecks.assertBalanced(html)
        for (series, count) in [("CNN head", 3), ("UNet", 2)] {
            let x = try xs(of: series, in: html)
            XCTAssertEqual(x.count, count, series)
            XCTAssertEqual(x, x.sorted(), "\(series): points left to right")
            XCTAssertEqual(Set(x).count, count, series)
        }
        let header = try XCTUnwrap(HTMLChecks.captures("<thead>\n<tr>(<th>method</th>.*?)</tr>", in: html).first)
        XCTAssertEqual(HTMLChecks.captures("<th>(\\d+) training", in: header), Set([all, 1, 2, 5, 10]).sorted().map {
            "\($0)"
        })
    }

    /// Table 2's shape: one train size, methods told apart by depth; no curve, a row per depth.
    func testOneTrainSizeGivesATableByDepthAndNoCurve() throws {
        let folder = try suiteFolder([("cnn_depth3", .cnn, 3, 1), ("cnn_depth2", .cnn, 2, 1)])
        let html = try Report.build(runs: try Report.runFolders([folder]), options: ReportOptions(overlays: false))
            .html
        HTMLChecks.assertBalanced(html)
        XCTAssertTrue(html.contains("no curve to draw"))
        XCTAssertFalse(html.contains("comparison_dice_vs_training_patients.png"))
        let rows = HTMLChecks.captures("<tr><td>(CNN head[^<]*)</td>", in: html)
        XCTAssertEqual(rows, ["CNN head (depth 2)", "CNN head (depth 3)"])
    }

    /// Rows and lines in the paper's order, not the folders' alphabetical one (vit_h < vit_l).
    func testMethodsAreOrderedHeadsFirstThenEncoderSizeThenTrainSize() {
        func config(_ kind: HeadKind, _ preset: EncoderPreset = .vitB, size: Int = 1,
                    simclr: Bool = false) -> ExperimentConfig {
            var c = ExperimentConfig()
            c.head.kind = kind
            c.encoder.preset = preset
            c.data.train_size = size
            c.pretrain.method = simclr ? .simclr : .none
            return c
        }
        let configs = [config(.unet, simclr: true), config(.unet), config(.cnn, .vitH), config(.cnn, .vitL),
                       config(.autosam, size: 0), config(.autosam, size: 5), config(.autosam, .vitH)]
        let ordered = Method.ordered(configs, by: { $0 })
        XCTAssertEqual(Method.labels(ordered), ["AutoSAM (encoder vit_b)", "AutoSAM (encoder vit_b)",
                                                "AutoSAM (encoder vit_h)", "CNN head (encoder vit_l)",
                                                "CNN head (encoder vit_h)", "UNet", "SimCLR UNet"])
        XCTAssertEqual(ordered.prefix(2).map(\.data.train_size), [5, 0], "all (0) after 5")
    }
}
