import TensorFiles
import Foundation
import TestSupport
import XCTest

/// `autosam train` under real mpirun (DESIGN §4): the same global batch on 1 and 2 ranks, resume,
/// and job abort on a failing rank. Uses the small random-weight demo encoder on phantom data.
final class MPITrainingTests: XCTestCase {
    static let workDir: URL = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("autosam-mpi-train-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let config = """
        {"name": "mpi-test",
         "data": {"root": "\(dir.path)/data", "synthesize_patients": 4, "train_size": 1, "slice_size": 64, \
        "augmentation": "none"},
         "encoder": {"preset": "demo_small"},
         "head": {"kind": "cnn", "depth": 2, "channels": 8},
         "optim": {"epochs": 3, "batch_size": 4, "lr": 0.002},
         "seeds": [0], "cache": {"dtype": "fp32", "dir": "\(dir.path)/cache"}, "run": {"progress_every": 100}}
        """
        try! config.write(to: dir.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        return dir
    }()

    func train(ranks: Int, output: String, _ extra: [String] = []) throws -> ProcessRunner.Outcome {
        let args = ["train", "-c", Self.workDir.appendingPathComponent("config.json").path,
                    "--set", "output.dir=\(Self.workDir.path)/\(output)"] + extra
        if ranks == 1 { return try ProcessRunner.run(ProcessRunner.autosam.path, args, timeout: 300) }
        return try ProcessRunner.run("mpirun", ProcessRunner.mpirunArguments(ranks: ranks)
                                     + ["-x", "OPENBLAS_NUM_THREADS=1", ProcessRunner.autosam.path] + args,
                                     timeout: 300)
    }

    func finalParameters(_ output: String, epoch: Int = 3) throws -> [Float] {
        let head = "\(output)/seed_0/checkpoints/epoch_000\(epoch)/head.safetensors"
        let file = try SafeTensorsFile(contentsOf: Self.workDir.appendingPathComponent(head))
        return try file.names.filter { $0.hasPrefix("params/") }.flatMap { try file.tensor($0).data }
    }

    /// 1 vs 2 ranks: the same losses and parameters up to summation order. The learning rate is
    /// tiny because Adam turns rounding-level gradient differences into sign flips of updates of
    /// size lr (see DistributedTrainingTests.testOneAndTwoRanksFollowTheSameTrajectory); resume
    /// with the same rank count is bit-identical by construction.
    func testTwoRanksMatchOneRankAndResumeIsBitIdentical() throws {
        let lr = ["--set", "optim.lr=1e-8"]
        let one = try train(ranks: 1, output: "one", lr)
        XCTAssertEqual(one.status, 0, one.output)
        let two = try train(ranks: 2, output: "two", lr + ["--debug"])     // --debug verifies ranks stay bit-identical
        XCTAssertEqual(two.status, 0, two.output)
        XCTAssertTrue(two.stdout.contains("2 rank(s)"), two.output)
        XCTAssertTrue(two.stdout.contains("Dice"), "results table missing: \(two.output)")
        assertClose(try finalParameters("two"), try finalParameters("one"), atol: 1e-5, rtol: 1e-4, "1 vs 2 ranks")

        let first = try train(ranks: 2, output: "resumed", lr + ["--stop-after-epochs", "1"])
        XCTAssertEqual(first.status, 0, first.output)
        let second = try train(ranks: 2, output: "resumed", lr + ["--resume", "auto"])
        XCTAssertEqual(second.status, 0, second.output)
        XCTAssertTrue(second.stdout.contains("seed 0: resumed at epoch 1 (step"), second.output)
        XCTAssertEqual(try finalParameters("resumed"), try finalParameters("two"),
                       "resume under mpirun is not bit-identical")
    }

    /// `test_model = best` under mpirun, stopped after the last epoch and resumed: the test CSV
    /// and predictions equal the uninterrupted run's (only epoch 20 of 25 is validated, so the best
    /// epoch is 20; a `last` run checks that epoch 25's masks differ).
    func testBestModelRunResumedUnderMPITestsTheBestWeights() throws {
        let best = ["--set", "optim.test_model=best", "--set", "optim.epochs=25", "--set", "optim.validate_every=20",
                    "--set", "optim.lr=0.003"]
        let whole = try train(ranks: 2, output: "best-whole", best)
        XCTAssertEqual(whole.status, 0, whole.output)
        let last = try train(ranks: 2, output: "best-last", best + ["--set", "optim.test_model=last"])
        XCTAssertEqual(last.status, 0, last.output)
        let stopped = try train(ranks: 2, output: "best-parted", best + ["--stop-after-epochs", "25"])
        XCTAssertEqual(stopped.status, 0, stopped.output)
        let resumed = try train(ranks: 2, output: "best-parted", best + ["--resume", "auto"])
        XCTAssertEqual(resumed.status, 0, resumed.output)
        func results(_ output: String) throws -> [String: Data] {
            let seed = Self.workDir.appendingPathComponent("\(output)/seed_0")
            var files = ["test_volumes.csv": try Data(contentsOf: seed.appendingPathComponent("test_volumes.csv"))]
            let predictions = seed.appendingPathComponent("predictions").path
            for p in try FileManager.default.contentsOfDirectory(atPath: predictions) {
                files[p] = try Data(contentsOf: seed.appendingPathComponent("predictions/" + p))
            }
            return files
        }
        let expected = try results("best-whole")
        XCTAssertGreaterThan(expected.count, 1, "predictions were written")
        XCTAssertNotEqual(try results("best-last"), expected,
                          "epoch 25's results must differ from epoch 20's for this test to mean anything")
        XCTAssertEqual(try results("best-parted"), expected)
    }

    /// A rank that stops (SIGSTOP) never reaches the next collective: the watchdog of the other
    /// rank ends the job after `run.collective_timeout`, naming the collective it waited in,
    /// instead of spinning forever.
    func testAStoppedRankEndsTheJobThroughTheWatchdog() throws {
        let start = Date()
        let run = try train(ranks: 2, output: "hang", ["--hang-rank", "1", "--set", "run.collective_timeout=3"])
        XCTAssertFalse(run.timedOut, run.output)
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains("world rank 0") && run.stderr.contains("has waited")
                      && run.stderr.contains("run.collective_timeout"), run.output)
        XCTAssertLessThan(Date().timeIntervalSince(start), 60)
    }

    /// A launcher that started several tasks while MPI sees a world of one rank (here SLURM_NTASKS=2
    /// without mpirun: an MPI singleton) stops with an explanation instead of running the job twice.
    func testALauncherMismatchStopsInsteadOfRunningCopies() throws {
        let run = try ProcessRunner.run(ProcessRunner.autosam.path,
                                        ["train", "-c", Self.workDir.appendingPathComponent("config.json").path,
                                         "--set", "output.dir=\(Self.workDir.path)/mismatch"],
                                        environment: ["SLURM_NTASKS": "2"], timeout: 120)
        XCTAssertNotEqual(run.status, 0, run.output)
        XCTAssertTrue(run.stderr.contains("started 2 tasks but MPI sees a world of 1 rank"), run.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: Self.workDir.appendingPathComponent("mismatch").path))
    }

    /// SIGTERM delivered to rank 1 alone in the middle of epoch 2 (a real signal: the rank raises it
    /// on itself after step 7 of 5-step epochs): both ranks stop after that step, the coordinator
    /// writes the step's checkpoint, the job exits with 75 (EX_TEMPFAIL) and nothing is tested;
    /// `--resume auto` continues mid-epoch and ends bit-identical to the uninterrupted run.
    func testSIGTERMOnOneRankCheckpointsTheStepAndResumesBitIdentically() throws {
        let whole = try train(ranks: 2, output: "sig-whole")
        XCTAssertEqual(whole.status, 0, whole.output)
        let stopped = try train(ranks: 2, output: "sig-parted", ["--signal-rank", "1", "--signal-step", "7"])
        XCTAssertFalse(stopped.timedOut, stopped.output)
        XCTAssertEqual(stopped.status, 75, stopped.output)
        XCTAssertTrue(stopped.stderr.contains("SIGTERM received"), stopped.output)
        XCTAssertTrue(stopped.stderr.contains("continue with --resume auto"), stopped.output)
        let checkpoints = Self.workDir.appendingPathComponent("sig-parted/seed_0/checkpoints")
        let names = try FileManager.default.contentsOfDirectory(atPath: checkpoints.path).sorted()
        XCTAssertEqual(names.last, "epoch_0001_step_00002", "\(names)")
        let summary = Self.workDir.appendingPathComponent("sig-parted/summary.json")
        XCTAssertFalse(FileManager.default.fileExists(atPath: summary.path))
        let resumed = try train(ranks: 2, output: "sig-parted", ["--resume", "auto"])
        XCTAssertEqual(resumed.status, 0, resumed.output)
        XCTAssertTrue(resumed.stdout.contains("resumed at epoch 1 + 2 steps"), resumed.output)
        XCTAssertTrue(try finalParameters("sig-parted") == finalParameters("sig-whole"),
                      "mid-epoch resume under mpirun is not bit-identical")
    }

    func testFailureOnRankOneAbortsTheTrainingJob() throws {
        let start = Date()
        let run = try train(ranks: 2, output: "fail", ["--fail-rank", "1"])
        XCTAssertFalse(run.timedOut)
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains("rank 1 failed"), run.output)
        XCTAssertLessThan(Date().timeIntervalSince(start), 60)
    }

    /// The SimCLR baseline under mpirun: pretraining and fine-tuning on 2 ranks with the per-step
    /// bit-identity check, stopped inside pretraining and resumed.
    func testSimCLRPretrainingAndFineTuningUnderMPI() throws {
        let simclr = ["--set", "head.kind=unet", "--set", "head.depth=2", "--set", "head.channels=4",
                      "--set", "data.slice_size=32",
                      "--set", "pretrain.method=simclr", "--set", "pretrain.epochs=2", "--set", "pretrain.batch_size=6",
                      "--set", "pretrain.projection_dim=8", "--set", "optim.epochs=1", "--set", "cache.enabled=false"]
        let first = try train(ranks: 2, output: "simclr", simclr + ["--debug", "--stop-after-epochs", "1"])
        XCTAssertEqual(first.status, 0, first.output)
        XCTAssertTrue(first.stdout.contains("SimCLR epoch 1/2"), first.output)
        XCTAssertFalse(first.stdout.contains("SimCLR epoch 2/2"), first.output)
        let second = try train(ranks: 2, output: "simclr", simclr + ["--debug", "--resume", "auto"])
        XCTAssertEqual(second.status, 0, second.output)
        XCTAssertTrue(second.stdout.contains("SimCLR pretraining resumed at epoch 1"), second.output)
        XCTAssertTrue(second.stdout.contains("tensors start from the pretrained encoder"), second.output)
        XCTAssertTrue(second.stdout.contains("Dice"), "results table missing: \(second.output)")
        let encoder = Self.workDir.appendingPathComponent("simclr/seed_0/pretrain/encoder.safetensors")
        XCTAssertTrue(try SafeTensorsFile(contentsOf: encoder).names.allSatisfy { $0.hasPrefix("encoders.") })
    }
}
