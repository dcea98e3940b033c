import Collectives
import Foundation
import XCTest
@testable import Config
@testable import Experiments

final class SuiteProgressTests: XCTestCase {
    /// Before each run the suite names how many runs are left and, once a run has been timed, a
    /// rough ETA: the mean time of the timed runs times the unfinished runs.
    func testSuiteETAFromTheRunsTimedSoFar() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("suite-eta-\(UUID().uuidString)")
        let configs = (0..<3).map { i -> ExperimentConfig in
            var c = ExperimentConfig()
            c.name = "run\(i)"
            c.output.dir = dir.appendingPathComponent("run\(i)").path   // nothing there: unfinished
            return c
        }
        let suite = Suite(name: "eta", runs: ["a.json", "b.json", "c.json"], file: dir.appendingPathComponent("s.json"))
        let runner = SuiteRunner(suite: suite, configs: configs, world: SingleProcessCommunicator()) { _ in
            throw ConfigError(source: "test", message: "no encoder needed")
        }
        XCTAssertEqual(runner.etaLine(timed: [], from: 0),
                       "3 run(s) to go, suite ETA not measured yet (see autosam bench plan --suite)")
        XCTAssertEqual(runner.etaLine(timed: [60, 120], from: 1),
                       "2 run(s) to go, rough suite ETA 3m00s (mean of the 2 run(s) trained so far)")
    }
}
