import Foundation
import XCTest
@testable import Config
@testable import Experiments

/// A suite's `folder`: runs elsewhere are linked into it (relative links, kept when right, never
/// replacing anything), and name clashes are refused when the suite is loaded.
final class SuiteFolderTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("autosam-suite-folder-\(UUID().uuidString)")
            .standardizedFileURL
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: dir)
    }

    /// A suite of configs writing to `outputs` (paths under the test folder), gathered in `folder`.
    func suite(_ outputs: [String], folder: String = "suite") throws -> (Suite, [URL]) {
        let files = try outputs.enumerated().map { i, output -> URL in
            var config = ExperimentConfig()
            config.name = "run\(i)"
            config.output.dir = dir.appendingPathComponent(output).path
            let file = dir.appendingPathComponent("config\(i).json")
            try ConfigLoader.render(config).write(to: file, atomically: true, encoding: .utf8)
            return file
        }
        let suite = Suite(name: "S", runs: files.map(\.path), folder: dir.appendingPathComponent(folder).path,
                          file: dir.appendingPathComponent("suite.json"))
        return (suite, files)
    }

    func testRunsElsewhereAreLinkedRelativelyAndRelinkingIsANoOp() throws {
        let (suite, _) = try suite(["suite/own", "runs/shared_a", "other/deeper/shared_b"])
        let configs = try suite.configs()
        let links = try suite.linkRuns(configs)
        XCTAssertEqual(links.map(\.lastPathComponent), ["shared_a", "shared_b"])
        let fm = FileManager.default
        let folder = dir.appendingPathComponent("suite")
        XCTAssertEqual(try fm.destinationOfSymbolicLink(atPath: folder.appendingPathComponent("shared_a").path),
                       "../runs/shared_a")
        XCTAssertEqual(try fm.destinationOfSymbolicLink(atPath: folder.appendingPathComponent("shared_b").path),
                       "../other/deeper/shared_b")
        XCTAssertNil(try? fm.destinationOfSymbolicLink(atPath: folder.appendingPathComponent("own").path))
        // A finished run behind a link is seen through it (as `autosam report FOLDER` reads it).
        let shared = dir.appendingPathComponent("runs/shared_a")
        try fm.createDirectory(at: shared, withIntermediateDirectories: true)
        try Data("{}".utf8).write(to: shared.appendingPathComponent("summary.json"))
        XCTAssertTrue(fm.fileExists(atPath: folder.appendingPathComponent("shared_a/summary.json").path))
        XCTAssertEqual(try suite.linkRuns(configs), [], "links already right are kept")
    }

    func testSomethingInTheWayIsAnErrorNamingIt() throws {
        let (suite, _) = try suite(["runs/a"])
        let inTheWay = dir.appendingPathComponent("suite/a")
        try FileManager.default.createDirectory(at: inTheWay, withIntermediateDirectories: true)
        XCTAssertThrowsError(try suite.linkRuns(try suite.configs())) { error in
            XCTAssertTrue("\(error)".contains("\(inTheWay.path) exists and is not a link"), "\(error)")
        }
        try FileManager.default.removeItem(at: inTheWay)
        try FileManager.default.createSymbolicLink(atPath: inTheWay.path, withDestinationPath: "../elsewhere/a")
        XCTAssertThrowsError(try suite.linkRuns(try suite.configs())) { error in
            XCTAssertTrue("\(error)".contains("links to ../elsewhere/a"), "\(error)")
        }
    }

    func testClashingNamesAndTheFolderAsARunAreRefused() throws {
        let (clash, _) = try suite(["runs/x", "more/x"])
        XCTAssertThrowsError(try clash.configs()) { error in
            XCTAssertTrue("\(error)".contains("both have an output.dir named 'x'"), "\(error)")
        }
        let (itself, _) = try suite(["suite"])
        XCTAssertThrowsError(try itself.configs()) { error in
            XCTAssertTrue("\(error)".contains("writes to the suite's folder"), "\(error)")
        }
        let bad = dir.appendingPathComponent("bad.json")
        try #"{"name": "T", "runs": ["a.json"], "folder": 3}"#.write(to: bad, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Suite.load(bad)) { error in
            XCTAssertTrue("\(error)".contains("'folder' must be a non-empty folder path"), "\(error)")
            XCTAssertTrue("\(error)".contains(bad.path), "\(error)")
        }
    }
}
