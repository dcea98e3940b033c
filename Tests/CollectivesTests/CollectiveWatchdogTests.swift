import Foundation
import XCTest
@testable import Collectives

/// The watchdog's decision (the process exit it triggers is exercised under mpirun in
/// MPITrainingTests): a collective is overdue once it has waited longer than the limit, never
/// outside a collective, never when disabled.
final class CollectiveWatchdogTests: XCTestCase {
    func testACollectiveIsOverdueOnlyPastTheLimit() {
        let watchdog = CollectiveWatchdog()
        watchdog.timeout = 30
        XCTAssertNil(watchdog.overdue(now: Date().addingTimeInterval(1000)), "no collective is running")
        watchdog.guarding("MPI_Allreduce") {
            XCTAssertNil(watchdog.overdue(now: Date().addingTimeInterval(10)))
            let late = watchdog.overdue(now: Date().addingTimeInterval(31))
            XCTAssertEqual(late?.operation, "MPI_Allreduce #1")
            XCTAssertGreaterThan(late?.waited ?? 0, 30)
            watchdog.timeout = 0
            XCTAssertNil(watchdog.overdue(now: Date().addingTimeInterval(1000)), "0 disables the watchdog")
            watchdog.timeout = 30
        }
        XCTAssertNil(watchdog.overdue(now: Date().addingTimeInterval(1000)), "the collective finished")
        watchdog.guarding("MPI_Barrier") {
            XCTAssertEqual(watchdog.overdue(now: Date().addingTimeInterval(60))?.operation, "MPI_Barrier #2",
                           "numbered in order")
        }
    }
}
