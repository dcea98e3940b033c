import Collectives
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

/// `autosam suite`: the suite file loader, and a suite of two tiny training configs and one box
/// config run in process, in order, with finished runs skipped on the second invocation.
final class SuiteTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("autosam-suite-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: dir)
    }

    /// Writes `text` to `name` in the test folder and returns its path.
    @discardableResult
    func file(_ name: String, _ text: String) throws -> URL {
        let url = dir.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    func assertRejected(_ suite: URL, containing phrases: [String], line: UInt = #line) {
        XCTAssertThrowsError(try Suite.load(suite).configs(), line: line) { error in
            for phrase in phrases + [suite.path] {
                XCTAssertTrue("\(error)".contains(phrase), "'\(phrase)' missing from: \(error)", line: line)
            }
        }
    }

    func testLoaderReadsAFileAndRejectsBadOnesNamingTheFile() throws {
        let config = try file("a.json", ConfigLoader.render(TinyRun.config(in: dir)))
        let good = try Suite.load(try file("good.json",
                                           #"{"name": "T", "runs": ["\#(config.path)"], "metrics": "dice, hd95"}"#))
        XCTAssertEqual(good.name, "T")
        XCTAssertEqual(good.runs, [config.path])
        XCTAssertEqual(good.metrics, [.dice, .hd95])
        XCTAssertNil(good.output)
        XCTAssertEqual(try good.configs(), [TinyRun.config(in: dir)])
        XCTAssertEqual(try Suite.load(try file("plain.json", #"{"name": "T", "runs": ["x.json"]}"#)).metrics,
                       [.dice, .assd])

        assertRejected(try file("unknown.json", #"{"name": "T", "runs": ["\#(config.path)"], "outptu": "t.md"}"#),
                       containing: ["unknown key 'outptu'"])
        let missing = dir.appendingPathComponent("nope.json").path
        assertRejected(try file("missing.json", #"{"name": "T", "runs": ["\#(config.path)", "\#(missing)"]}"#),
                       containing: ["config file \(missing) does not exist"])
        assertRejected(try file("metric.json", #"{"name": "T", "runs": ["\#(config.path)"], "metrics": "dice,iou"}"#),
                       containing: ["unknown metric 'iou'"])
        assertRejected(try file("empty.json", #"{"name": "T", "runs": []}"#),
                       containing: ["'runs' must be a non-empty list"])
        assertRejected(try file("twice.json", #"{"name": "T", "runs": ["\#(config.path)", "\#(config.path)"]}"#),
                       containing: ["both write to output.dir"])
        let bad = try file("bad.json", #"{"head": {"kind": "sam_box"}}"#)
        let badSuite = try file("badconfig.json", #"{"name": "T", "runs": ["\#(bad.path)"]}"#)
        XCTAssertThrowsError(try Suite.load(badSuite).configs()) { error in
            XCTAssertTrue("\(error)".contains(bad.path) && "\(error)".contains("encoder.checkpoint"), "\(error)")
        }
    }

    /// Three runs (CNN head, linear head, SAM box) in suite order; the second invocation runs
    /// nothing (no encoder built, summaries untouched) and prints the same table.
    func testSuiteRunsInOrderThenSkipsFinishedRuns() throws {
        var cnn = TinyRun.config(in: dir)
        cnn.name = "tiny_cnn"
        cnn.optim.epochs = 2
        cnn.output.dir = dir.appendingPathComponent("runs/cnn").path
        var linear = cnn
        linear.name = "tiny_linear"
        linear.head.kind = .linear
        linear.output.dir = dir.appendingPathComponent("runs/linear").path
        var box = cnn
        box.name = "tiny_box"
        box.head.kind = .samBox
        box.head.box_input = .corrected
        box.encoder.checkpoint = Fixtures.url("tiny_sam.pth").path
        box.encoder.decoder_heads = 2
        box.encoder.preset = .auto
        box.output.dir = dir.appendingPathComponent("runs/box").path
        try Phantom.writeDataset(to: URL(fileURLWithPath: cnn.data.root), patients: 3, seed: 0, inPlaneScale: 0.5)
        let paths = try [cnn, linear, box].map { try file("\($0.name).json", ConfigLoader.render($0)).path }
        let output = dir.appendingPathComponent("tables/table1.md")
        let suiteFile = try file("suite.json", """
            {"name": "tiny table", "runs": ["\(paths[0])", "\(paths[1])", "\(paths[2])"], "output": "\(output.path)"}
            """)
        let suite = try Suite.load(suiteFile)
        let configs = try suite.configs()
        XCTAssertEqual(configs, [cnn, linear, box])

        let built = EncoderLog()
        let runner = SuiteRunner(suite: suite, configs: configs, world: SingleProcessCommunicator()) { config in
            built.append(config.name)
            return SpaceToDepthEncoder()
        }
        XCTAssertThrowsError(try runner.table()) { error in
            XCTAssertTrue("\(error)".contains("no summary.json yet for: \(paths[0])"), "\(error)")
        }
        let table = try XCTUnwrap(try runner.run())
        XCTAssertEqual(table.rows.map(\.label), ["tiny_cnn (1 seeds)", "tiny_linear (1 seeds)", "tiny_box (1 seeds)"])
        XCTAssertEqual(Set(built.names), ["tiny_cnn", "tiny_linear"], "the box run builds no slice encoder")
        XCTAssertTrue(configs.allSatisfy(SuiteRunner.isFinished))
        let written = try String(contentsOf: output, encoding: .utf8)
        XCTAssertEqual(written, "# tiny table\n\n```text\n\(table.render())```\n")

        let summaries = configs.map { URL(fileURLWithPath: $0.output.dir).appendingPathComponent("summary.json") }
        let stamps = try summaries.map {
            try FileManager.default.attributesOfItem(atPath: $0.path)[.modificationDate] as? Date
        }
        let calls = built.names.count
        let again = try XCTUnwrap(try runner.run())
        XCTAssertEqual(built.names.count, calls, "a finished run was run again")
        XCTAssertEqual(try summaries.map {
                           try FileManager.default.attributesOfItem(atPath: $0.path)[.modificationDate] as? Date
                       }, stamps)
        XCTAssertEqual(again.render(), table.render())

        var changed = linear
        changed.optim.epochs = 3
        XCTAssertFalse(SuiteRunner.isFinished(changed), "a changed config is not finished")
    }

    /// The box configs select both input paths on the paper configs' data and split (every
    /// shipped suite and config loads: `ShippedConfigsTests`).
    func testShippedBoxConfigsMatchThePaperConfigs() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        XCTAssertEqual(try Suite.load(root.appendingPathComponent("configs/paper/table1.json")).runs.count, 12)
        let paper = try ConfigLoader.load(file: root.appendingPathComponent("configs/paper/autosam_vit_b_train1.json"))
        for input in BoxInputPath.allCases {
            let file = root.appendingPathComponent("configs/baselines/sam_box_\(input.rawValue).json")
            let c = try ConfigLoader.load(file: file)
            XCTAssertEqual(c.name, "sam_box_\(input.rawValue)")
            XCTAssertEqual(c.head.kind, .samBox)
            XCTAssertEqual(c.head.box_input, input)
            XCTAssertEqual(c.encoder.checkpoint, paper.encoder.checkpoint)
            XCTAssertEqual([c.data.layout.rawValue, c.data.root], [paper.data.layout.rawValue, paper.data.root])
            XCTAssertEqual([c.data.split_seed, c.data.folds, c.data.fold, c.data.classes],
                           [paper.data.split_seed, paper.data.folds, paper.data.fold, paper.data.classes])
        }
    }
}

/// Names of the configs a slice encoder was built for (thread-safe).
private final class EncoderLog: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [String] = []
    var names: [String] { lock.lock(); defer { lock.unlock() }; return list }
    func append(_ name: String) { lock.lock(); list.append(name); lock.unlock() }
}
