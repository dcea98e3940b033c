import XCTest
@testable import Collectives

/// How many tasks a launcher's environment announces (the mismatch check of
/// `Communicators.forThisProcess`); nothing announced means a plain single-process run.
final class LauncherTests: XCTestCase {
    func testExpectedTasksFromTheLaunchersEnvironment() throws {
        XCTAssertEqual(Communicators.expectedTasks([:]), 1)
        XCTAssertEqual(Communicators.expectedTasks(["SLURM_NTASKS": "8"]), 8)
        XCTAssertEqual(Communicators.expectedTasks(["OMPI_COMM_WORLD_SIZE": "2", "SLURM_NTASKS": "1"]), 2)
        XCTAssertEqual(Communicators.expectedTasks(["PMI_SIZE": "4"]), 4)
        XCTAssertEqual(Communicators.expectedTasks(["SLURM_NTASKS": "x"]), 1)
        XCTAssertTrue(try Communicators.forThisProcess(environment: [:]) is SingleProcessCommunicator)
        XCTAssertTrue(try Communicators.forThisProcess(environment: ["SLURM_NTASKS": "1"]) is SingleProcessCommunicator)
    }
}
