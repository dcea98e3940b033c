import Collectives
import Foundation
import XCTest
@testable import Config
@testable import Experiments
@testable import Runs

/// `data.class_names` (issue 18): the names of labels 1..<classes in the tables, the per-volume
/// CSV and summary.json; checked against `data.classes`; ACDC's by default for 4 classes.
final class ClassNamesTests: XCTestCase {
    func testDefaultsAndChecks() throws {
        XCTAssertEqual(ExperimentConfig().classNames, ["RV", "Myo", "LV"])
        XCTAssertEqual(try ConfigLoader.load(file: nil, overrides: ["data.classes=3"]).classNames,
                       ["class 1", "class 2"])
        let named = try ConfigLoader.load(file: nil, overrides: [#"data.class_names=["right", "muscle", "left"]"#])
        XCTAssertEqual(named.classNames, ["right", "muscle", "left"])
        let failures: [(String, String)] = [
            (#"data.class_names=["a", "b"]"#, "data.class_names must name the 3 labels 1..<data.classes"),
            (#"data.class_names=["a", "a", "b"]"#, "data.class_names must be distinct"),
            (#"data.class_names=["a", " ", "b"]"#, "data.class_names[1] is empty"),
            (#"data.class_names=["a", 2, "b"]"#, "data.class_names[1] must be a string, got 2"),
            ("data.class_names=RV", "data.class_names must be a list of strings"),
        ]
        for (item, expected) in failures {
            XCTAssertThrowsError(try ConfigLoader.load(file: nil, overrides: [item]), item) { error in
                let text = "\(error)"
                XCTAssertTrue(text.contains(expected) && text.contains("--set data.class_names"), "\(item): \(text)")
            }
        }
    }

    func testRunResultsUseTheNames() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("autosam-names-\(UUID().uuidString)")
        var c = TinyRun.config(in: dir)
        c.data.root = TinyRun.shared.config.data.root
        c.optim.epochs = 1
        c.data.class_names = ["right", "muscle", "left"]
        _ = try Experiment(config: c, world: SingleProcessCommunicator(), encoderFactory: TinyRun.encoderFactory).run()
        let csv = try String(contentsOfFile: c.output.dir + "/seed_0/test_volumes.csv", encoding: .utf8)
        XCTAssertTrue(csv.contains(",muscle,") && !csv.contains("Myo"), csv)
        let summary = try String(contentsOfFile: c.output.dir + "/summary.json", encoding: .utf8)
        XCTAssertTrue(summary.contains("\"muscle\"") && !summary.contains("\"Myo\""), summary)
    }
}
