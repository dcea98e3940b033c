import XCTest
import TestSupport

/// The real `autosam` binary under real `mpirun` (DESIGN §4.9).
final class MPIJobTests: XCTestCase {
    func testCollectivesWorkAcrossTwoRanks() throws {
        let run = try ProcessRunner.run("mpirun", ProcessRunner.mpirunArguments(ranks: 2)
                                        + [ProcessRunner.autosam.path, "mpi-check"])
        XCTAssertEqual(run.status, 0, run.output)
        XCTAssertTrue(run.stdout.contains("rank 0/2: allreduce ok"), run.output)
        XCTAssertTrue(run.stdout.contains("rank 1/2: allreduce ok"), run.output)
        XCTAssertTrue(run.stdout.contains("bit-identical true"), run.output)
    }

    func testErrorOnRankOneAbortsTheJobPromptlyNamingTheRank() throws {
        let start = Date()
        let run = try ProcessRunner.run("mpirun", ProcessRunner.mpirunArguments(ranks: 2)
                                        + [ProcessRunner.autosam.path, "mpi-check", "--fail-rank", "1"], timeout: 60)
        XCTAssertFalse(run.timedOut, "the job hung instead of aborting")
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains("rank 1 failed"), run.output)
        XCTAssertTrue(run.stderr.contains("induced failure"), run.output)
        XCTAssertLessThan(Date().timeIntervalSince(start), 30)
    }

    func testWithoutMpirunRunsAsOneRank() throws {
        let run = try ProcessRunner.run(ProcessRunner.autosam.path, ["mpi-check"])
        XCTAssertEqual(run.status, 0, run.output)
        XCTAssertTrue(run.stdout.contains("rank 0/1"), run.output)
    }
}
