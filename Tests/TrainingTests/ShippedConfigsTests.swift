import Foundation
import XCTest
@testable import Config
@testable import Experiments

/// Every JSON file under `configs/` loads with the real loaders (a suite, with every config it
/// names, or a config), and the paper's and the demo's suites hold the grids the README promises.
final class ShippedConfigsTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// Suites by path relative to the root, with their configs (loaded as `autosam suite` does;
    /// missing files, unknown keys, shared output folders and clashing run names fail).
    static func suites() throws -> [String: (suite: Suite, configs: [ExperimentConfig])] {
        let folder = root.appendingPathComponent("configs")
        let files = try XCTUnwrap(FileManager.default.enumerator(at: folder, includingPropertiesForKeys: nil))
            .compactMap { $0 as? URL }.filter { $0.pathExtension == "json" }
        var suites: [String: (Suite, [ExperimentConfig])] = [:]
        for url in files {
            let name = "configs" + url.standardizedFileURL.path.dropFirst(folder.standardizedFileURL.path.count)
            let object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any]
            guard object?["runs"] != nil else {
                XCTAssertNoThrow(try ConfigLoader.load(file: url), name)
                continue
            }
            var suite = try Suite.load(url)
            suite.runs = suite.runs.map { root.appendingPathComponent($0).path }
            suites[name] = (suite, try suite.configs())
        }
        return suites
    }

    func testEverySuiteAndConfigLoads() throws {
        let suites = try Self.suites()
        XCTAssertEqual(Set(suites.keys), ["configs/demo_suite.json", "configs/paper/table1.json",
                                          "configs/paper/label_efficiency.json", "configs/paper/table2.json",
                                          "configs/paper/table3.json"])
        for (name, (suite, _)) in suites {
            XCTAssertNotNil(suite.output, name)
            XCTAssertNotNil(suite.folder, name)
        }
        XCTAssertEqual(suites["configs/paper/table1.json"]?.suite.runs.count, 12)
    }

    /// (head kind, pretraining, train size) of every run, and the settings that must agree along
    /// one line of Figure 5 (else the report splits the method into several lines).
    func grid(_ configs: [ExperimentConfig]) -> (cells: Set<String>, methods: Set<String>) {
        (Set(configs.map { "\($0.head.kind.rawValue)/\($0.pretrain.method.rawValue)/\($0.data.train_size)" }),
         Set(configs.map {
             "\($0.head.kind.rawValue)/\($0.pretrain.method.rawValue)/\($0.encoder.preset.rawValue)/\($0.head.depth)/"
                 + "\($0.head.channels)/\($0.data.input_mode.rawValue)/\($0.data.augmentation.rawValue)"
         }))
    }

    func testLabelEfficiencyIsFigure5() throws {
        let configs = try XCTUnwrap(try Self.suites()["configs/paper/label_efficiency.json"]).configs
        let methods = ["autosam/none", "cnn/none", "unet/none", "unet/simclr"]
        let (cells, lines) = grid(configs)
        XCTAssertEqual(cells, Set(methods.flatMap { m in [1, 2, 5, 10, 0].map { "\(m)/\($0)" } }))
        XCTAssertEqual(configs.count, 20)
        XCTAssertEqual(lines.count, 4, "one line per method: \(lines.sorted())")
        XCTAssertTrue(configs.allSatisfy { $0.data.root == "data/acdc" && $0.seeds.count == 4 })
        XCTAssertTrue(configs.filter { $0.head.kind != .unet }.allSatisfy { $0.encoder.preset == .vitB })
    }

    func testTables2And3() throws {
        let suites = try Self.suites()
        let table2 = try XCTUnwrap(suites["configs/paper/table2.json"]).configs
        XCTAssertEqual(table2.map(\.head.depth), [2, 3, 4, 5])
        XCTAssertTrue(table2.allSatisfy {
            $0.head.kind == .cnn && $0.data.train_size == 1 && $0.encoder.preset == .vitB
        })
        let table3 = try XCTUnwrap(suites["configs/paper/table3.json"]).configs
        XCTAssertEqual(Set(table3.map { "\($0.head.kind.rawValue)/\($0.encoder.preset.rawValue)" }),
                       Set(["autosam", "cnn"].flatMap { k in ["vit_b", "vit_l", "vit_h"].map { "\(k)/\($0)" } }))
        XCTAssertTrue(table3.allSatisfy { $0.data.train_size == 1 })
    }

    /// The demo suite trains a small Figure 5 on the phantom, each run in the suite's folder.
    func testDemoSuiteIsASmallFigure5OnThePhantom() throws {
        let (suite, configs) = try XCTUnwrap(try Self.suites()["configs/demo_suite.json"])
        let (cells, lines) = grid(configs)
        let methods = ["autosam/none", "cnn/none", "unet/none"]
        XCTAssertEqual(cells, Set(methods.flatMap { m in [1, 2, 4].map { "\(m)/\($0)" } }))
        XCTAssertEqual(lines.count, 3)
        for c in configs {
            XCTAssertEqual([c.data.root, c.encoder.checkpoint], ["data/phantom", ""], c.name)
            XCTAssertGreaterThan(c.data.synthesize_patients, 0, c.name)
            XCTAssertEqual(c.seeds.count, 2, "error bars need seeds: \(c.name)")
            XCTAssertEqual(c.output.dir, "\(try XCTUnwrap(suite.folder))/\(c.name)", "no links needed for the demo")
            if c.head.kind != .unet { XCTAssertEqual(c.encoder.preset, .demoSmall, c.name) }
        }
    }
}
