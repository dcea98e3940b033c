import Config
import Evaluation
import Experiments
import Foundation
import Metrics
import XCTest
@testable import Reports

/// `autosam report` on a real (tiny) run folder: a self-contained, well-formed page whose numbers,
/// named volumes and curves match the run's files.
final class RunReportTests: XCTestCase {
    /// The report of the shared run, written once per test process.
    static let written: (html: String, file: URL, report: Report) = {
        let run = TinyReportRun.shared.folder
        let file = run.appendingPathComponent("report.html")
        let report = try! Report.build(runs: [run], options: ReportOptions(figureFolder: "report_files"))
        try! report.write(to: file)
        return (try! String(contentsOf: file, encoding: .utf8), file, report)
    }()

    func testReportIsSelfContainedAndWellFormed() throws {
        let (html, file, report) = Self.written
        HTMLChecks.assertSelfContained(html)
        HTMLChecks.assertBalanced(html)
        let images = HTMLChecks.assertImagesEmbedded(html)
        // best, median and worst volume of each seed
        XCTAssertEqual(images.count, 3 * TinyReportRun.shared.config.seeds.count)
        let folder = file.deletingLastPathComponent().appendingPathComponent("report_files")
        XCTAssertFalse(report.figures.isEmpty)
        for figure in report.figures {
            let copy = try Data(contentsOf: folder.appendingPathComponent(figure.file))
            HTMLChecks.assertPNG(copy)
            XCTAssertEqual(copy, figure.png, figure.file)
        }
    }

    /// Every cell of the results table is summary.json's mean and std at the printed precision.
    func testResultsTableEqualsSummary() throws {
        let summary = try RunSummary.read(run: TinyReportRun.shared.folder)
        let table = try XCTUnwrap(HTMLChecks.captures("<table class=\"results\">(.*?)</table>",
                                                      in: Self.written.html).first)
        let rows = HTMLChecks.captures("<tr><td>(.*?)</tr>", in: table)
        XCTAssertEqual(rows.count, summary.seeds.count + 1)
        let expected = summary.perSeed + [summary.overSeeds]
        for (row, scores) in zip(rows, expected) {
            let cells = HTMLChecks.captures("<td class=\"num\">(.*?)</td>", in: row)
            let statistics = [Metric.dice, .assd].flatMap { m in scores.columns.map { ($0[m], m) } }
            XCTAssertEqual(cells.count, statistics.count)
            for (cell, (statistic, metric)) in zip(cells, statistics) {
                let parts = cell.replacingOccurrences(of: "*", with: "").components(separatedBy: " ± ")
                guard let mean = statistic.mean, let std = statistic.std else {
                    XCTAssertEqual(cell, "n/a")
                    continue
                }
                let tolerance = (metric == .dice ? 0.0005 : 0.005) + 1e-9
                XCTAssertEqual(try XCTUnwrap(Double(parts[0])), mean, accuracy: tolerance, cell)
                XCTAssertEqual(try XCTUnwrap(Double(parts[1])), std, accuracy: tolerance, cell)
            }
        }
    }

    /// The worst and best volumes named over seeds are the ones with the lowest and highest mean
    /// Dice, computed here from the CSV files directly.
    func testWorstAndBestVolumesAreNamed() throws {
        let run = TinyReportRun.shared
        var sums: [String: [Double]] = [:]
        for seed in run.config.seeds {
            let csv = run.folder.appendingPathComponent("seed_\(seed)/test_volumes.csv")
            let scores = try TinyReportRun.meanDice(csv: csv)
            for (name, dice) in scores { sums[name, default: []].append(dice) }
        }
        let means = sums.mapValues { $0.reduce(0, +) / Double($0.count) }
        let worst = HTMLChecks.captures("<b class=\"worst\">(.*?)</b>", in: Self.written.html)
        let best = HTMLChecks.captures("<b class=\"best\">(.*?)</b>", in: Self.written.html)
        XCTAssertEqual(worst.count, 1)
        XCTAssertEqual(best.count, 1)
        XCTAssertEqual(means[worst[0]], means.values.min(), "worst \(worst) of \(means)")
        XCTAssertEqual(means[best[0]], means.values.max(), "best \(best) of \(means)")
    }

    /// One training-loss vertex per epoch line of metrics.jsonl; the learning rate is a step plot.
    func testCurvesHaveOnePointPerEpoch() throws {
        let html = Self.written.html
        for key in ["trainLoss", "trainCE", "trainDice", "validationDice"] {
            let curves = HTMLChecks.captures("data-series=\"\(key)\"[^>]*points=\"([^\"]*)\"", in: html)
            XCTAssertEqual(curves.count, TinyReportRun.shared.config.seeds.count, key)
            for (seed, points) in zip(TinyReportRun.shared.config.seeds, curves) {
                let log = TinyReportRun.shared.folder.appendingPathComponent("seed_\(seed)/metrics.jsonl")
                let epochs = try String(contentsOf: log, encoding: .utf8).split(separator: "\n").count
                XCTAssertEqual(epochs, TinyReportRun.epochs)
                XCTAssertEqual(points.split(separator: " ").count, epochs, "\(key), seed \(seed)")
            }
        }
        let lr = HTMLChecks.captures("data-series=\"lr\"[^>]*points=\"([^\"]*)\"", in: html)
        XCTAssertEqual(lr.first?.split(separator: " ").count, 2 * TinyReportRun.epochs - 1)
        XCTAssertTrue(html.contains(">epoch</text>"), "x axis named")
    }

    /// `train` recorded its provenance and the report shows it; a run without the file says so.
    func testProvenanceRecordedAndOldRunsStillReport() throws {
        let provenance = try XCTUnwrap(try RunProvenance.read(run: TinyReportRun.shared.folder))
        XCTAssertEqual(provenance.ranks, 1)
        XCTAssertEqual(provenance.phases.map(\.name), ["data and encoder", "embedding cache", "training and test",
                                                       "summary"])
        XCTAssertTrue(provenance.phases.allSatisfy { $0.seconds >= 0 })
        XCTAssertTrue(provenance.software == "unknown" || provenance.software.prefix(40).allSatisfy(\.isHexDigit))
        XCTAssertTrue(Self.written.html.contains(HTMLEscaped(provenance.cpuModel)))
        XCTAssertFalse(Self.written.html.contains("not recorded"))

        let old = try TinyReportRun.copy()
        try FileManager.default.removeItem(at: old.appendingPathComponent(RunProvenance.fileName))
        let html = try Report.build(runs: [old], options: ReportOptions(overlays: false)).html
        XCTAssertTrue(html.contains("not recorded"))
        HTMLChecks.assertBalanced(html)
    }

    /// The header counts the training patients; train_size 0 (all) is counted from the split.
    func testHeaderCountsTrainingPatients() throws {
        let size = TinyReportRun.shared.config.data.train_size
        XCTAssertTrue(Self.written.html.contains("\(size) training patient(s) (data.train_size)"))
        let all = try TinyReportRun.copy()
        let configFile = all.appendingPathComponent("config.json")
        var config = try ConfigLoader.load(file: configFile)
        config.data.train_size = 0
        try ConfigLoader.render(config).write(to: configFile, atomically: true, encoding: .utf8)
        let run = try ReportRun.load(all)
        let patients = try XCTUnwrap(run.split).train.count
        XCTAssertTrue(RunReport.trainingPatients(run).hasPrefix("\(patients) training patient(s) (data.train_size 0"))
    }

    /// A relative data.root is found from the folder `train` ran in (the run folder minus
    /// output.dir), whatever the working directory.
    func testRelativeDataRootIsFoundFromTheFolderTrainRanIn() throws {
        let run = try TinyReportRun.copy(named: "runs/tiny")
        let base = run.deletingLastPathComponent().deletingLastPathComponent()
        try FileManager.default.copyItem(atPath: TinyReportRun.shared.config.data.root,
                                         toPath: base.appendingPathComponent("data").path)
        var config = TinyReportRun.shared.config
        (config.data.root, config.output.dir) = ("data", "runs/tiny")
        try ConfigLoader.render(config).write(to: run.appendingPathComponent("config.json"), atomically: true,
                                              encoding: .utf8)
        let root = try RunReport.dataRoot(try ReportRun.load(run))
        XCTAssertEqual(root.standardizedFileURL.path, base.appendingPathComponent("data").standardizedFileURL.path)
        HTMLChecks.assertImagesEmbedded(try Report.build(runs: [run]).html)
    }

    private func HTMLEscaped(_ s: String) -> String { HTML.escape(s) }
}
