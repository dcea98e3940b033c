import Foundation
import TestSupport
import XCTest

/// `autosam train` on a SAM box config and `autosam suite` under real mpirun, with the tiny
/// fixture SAM on phantom data.
final class MPIBoxSuiteTests: XCTestCase {
    func mpirun(_ ranks: Int, _ arguments: [String]) throws -> ProcessRunner.Outcome {
        try ProcessRunner.run("mpirun", ProcessRunner.mpirunArguments(ranks: ranks) + ["-x", "OPENBLAS_NUM_THREADS=1",
                              ProcessRunner.autosam.path] + arguments, timeout: 300)
    }

    func contents(_ url: URL) throws -> Data { try Data(contentsOf: url) }

    /// 2 ranks write exactly the files of 1 rank; a suite listing the run then finds it done and
    /// prints its row; --only-table names a run that has not finished.
    func testBoxConfigOnTwoRanksEqualsOneRankAndSuiteSkipsIt() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("autosam-mpi-box-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("box.json")
        // not visible in the checkpoint's shapes
        let decoderHeads = try XCTUnwrap(Fixtures.config["dec_num_heads"] as? Int)
        try """
        {"name": "box-mpi",
         "data": {"layout": "acdc", "root": "\(dir.path)/data", "synthesize_patients": 4, "train_size": 1},
         "encoder": {"checkpoint": "\(Fixtures.url("tiny_sam.pth").path)", "preset": "auto", \
        "decoder_heads": \(decoderHeads)},
         "head": {"kind": "sam_box", "box_input": "corrected"},
         "seeds": [0], "output": {"dir": "\(dir.path)/one"}}
        """.write(to: config, atomically: true, encoding: .utf8)

        let one = try ProcessRunner.run(ProcessRunner.autosam.path, ["train", "-c", config.path], timeout: 300)
        XCTAssertEqual(one.status, 0, one.output)
        XCTAssertTrue(one.stdout.contains("one seed entry (seed 0"), one.output)
        let two = try mpirun(2, ["train", "-c", config.path, "--set", "output.dir=\(dir.path)/two"])
        XCTAssertEqual(two.status, 0, two.output)
        XCTAssertTrue(two.stdout.contains("2 rank(s)"), two.output)
        XCTAssertTrue(two.stdout.contains("[rank 1] box baseline: "), "rank 1 predicted nothing: \(two.output)")

        let (a, b) = (dir.appendingPathComponent("one"), dir.appendingPathComponent("two"))
        XCTAssertEqual(try contents(b.appendingPathComponent("summary.json")),
                       try contents(a.appendingPathComponent("summary.json")))
        XCTAssertEqual(try contents(b.appendingPathComponent("seed_0/test_volumes.csv")),
                       try contents(a.appendingPathComponent("seed_0/test_volumes.csv")))
        let predictions = try FileManager.default
            .contentsOfDirectory(atPath: a.appendingPathComponent("seed_0/predictions").path).sorted()
        XCTAssertGreaterThanOrEqual(predictions.count, 2)
        for name in predictions {
            XCTAssertEqual(try contents(b.appendingPathComponent("seed_0/predictions/\(name)")),
                           try contents(a.appendingPathComponent("seed_0/predictions/\(name)")), name)
        }

        let table = dir.appendingPathComponent("table.md")
        let suite = dir.appendingPathComponent("suite.json")
        try #"{"name": "mpi suite", "runs": ["\#(config.path)"], "output": "\#(table.path)"}"#
            .write(to: suite, atomically: true, encoding: .utf8)
        let done = try mpirun(2, ["suite", suite.path])
        XCTAssertEqual(done.status, 0, done.output)
        XCTAssertTrue(done.stdout.contains("already done"), done.output)
        XCTAssertFalse(done.stdout.contains("box baseline: "), "a finished run ran again: \(done.output)")
        XCTAssertTrue(try String(contentsOf: table, encoding: .utf8).contains("box-mpi (1 seeds)"))

        let pending = dir.appendingPathComponent("pending.json")
        try String(contentsOf: config, encoding: .utf8)
            .replacingOccurrences(of: "\(dir.path)/one", with: "\(dir.path)/three")
            .write(to: pending, atomically: true, encoding: .utf8)
        try #"{"name": "mpi suite", "runs": ["\#(config.path)", "\#(pending.path)"]}"#
            .write(to: suite, atomically: true, encoding: .utf8)
        let missing = try ProcessRunner.run(ProcessRunner.autosam.path, ["suite", suite.path, "--only-table"])
        XCTAssertNotEqual(missing.status, 0, missing.output)
        XCTAssertTrue(missing.stderr.contains("no summary.json yet for: \(pending.path)"), missing.output)
    }
}
