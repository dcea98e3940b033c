import Foundation
import TestSupport
import XCTest

/// `autosam predict --ensemble` as users run it: one process and under mpirun give the same
/// ensemble summary; a one-seed run is refused with a non-zero exit and nothing written.
final class MPIEnsembleTests: XCTestCase {
    private static let workDir: URL = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("autosam-mpi-ensemble-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let config = """
        {"name": "ensemble-test",
         "data": {"root": "\(dir.path)/data", "synthesize_patients": 3, "train_size": 1, "slice_size": 64, \
        "augmentation": "none"},
         "encoder": {"preset": "demo_small"},
         "head": {"kind": "cnn", "depth": 2, "channels": 8},
         "optim": {"epochs": 2, "batch_size": 4, "lr": 0.002},
         "seeds": [0, 1], "cache": {"enabled": false}, "output": {"dir": "\(dir.path)/run"},
         "run": {"progress_every": 100}}
        """
        try! config.write(to: dir.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        let train = try! ProcessRunner.run(ProcessRunner.autosam.path,
                                           ["train", "-c", dir.appendingPathComponent("config.json").path],
                                           timeout: 300)
        precondition(train.status == 0, train.output)
        return dir
    }()

    private func ensemble(ranks: Int, run: String) throws -> ProcessRunner.Outcome {
        let args = ["predict", "--run", Self.workDir.appendingPathComponent(run).path, "--ensemble",
                    "--uncertainty", "disagreement"]
        if ranks == 1 { return try ProcessRunner.run(ProcessRunner.autosam.path, args, timeout: 300) }
        return try ProcessRunner.run("mpirun", ProcessRunner.mpirunArguments(ranks: ranks)
                                     + ["-x", "OPENBLAS_NUM_THREADS=1", ProcessRunner.autosam.path] + args,
                                     timeout: 300)
    }

    func testOneAndTwoRanksWriteTheSameEnsemble() throws {
        let summary = Self.workDir.appendingPathComponent("run/ensemble_summary.json")
        let one = try ensemble(ranks: 1, run: "run")
        XCTAssertEqual(one.status, 0, one.output)
        XCTAssertTrue(one.stdout.contains("seed ensemble Dice"), one.output)
        XCTAssertTrue(one.stdout.contains("seed_1/checkpoints/epoch_0002"), one.output)
        let single = try Data(contentsOf: summary)
        let labels = try Data(contentsOf: Self.workDir.appendingPathComponent("run/ensemble/test_volumes.csv"))
        let two = try ensemble(ranks: 2, run: "run")
        XCTAssertEqual(two.status, 0, two.output)
        XCTAssertEqual(try Data(contentsOf: summary), single)
        XCTAssertEqual(try Data(contentsOf: Self.workDir.appendingPathComponent("run/ensemble/test_volumes.csv")),
                       labels)
    }

    func testAOneSeedRunIsRefusedAndNothingIsWritten() throws {
        let copy = Self.workDir.appendingPathComponent("one-seed-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: true)
        let config = try String(contentsOf: Self.workDir.appendingPathComponent("run/config.json"), encoding: .utf8)
        let seeds = try NSRegularExpression(pattern: "\"seeds\"\\s*:\\s*\\[[^\\]]*\\]")
        let oneSeed = seeds.stringByReplacingMatches(in: config, range: NSRange(config.startIndex..., in: config),
                                                     withTemplate: "\"seeds\": [0]")
        XCTAssertNotEqual(oneSeed, config)
        try oneSeed.write(to: copy.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        let outcome = try ensemble(ranks: 1, run: copy.lastPathComponent)
        XCTAssertNotEqual(outcome.status, 0, outcome.output)
        XCTAssertTrue(outcome.stderr.contains(copy.path) && outcome.stderr.contains("at least 2 seeds"),
                      outcome.output)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: copy.path), ["config.json"])
    }
}
