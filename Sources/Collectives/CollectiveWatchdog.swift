import Foundation

/// Ends a job whose collective waits too long (DESIGN §4.9: a failing rank must not hang the
/// job). A stopped or wedged rank never reaches the next collective, and MPI's blocking
/// collectives then wait, spinning, forever. Every MPI collective of this process runs inside
/// `guarding`; a background thread checks once a second and, when one collective has waited
/// longer than `timeout`, prints which rank waited in which collective (its sequence number and
/// the world ranks of its communicator) and ends this process with status 1, which makes mpirun
/// terminate every rank of the job.
///
/// The limit bounds the wait for the slowest peer, so it must exceed the longest legitimate
/// stretch of work between two collectives (an encoder pass over a rank's share of slices, the
/// coordinator's checkpoint and test-volume scoring): `run.collective_timeout`, default 600 s.
public final class CollectiveWatchdog: @unchecked Sendable {
    /// The process-wide watchdog of MPI collectives (started with the first guarded call).
    public static let shared = CollectiveWatchdog()

    /// Seconds a collective may wait; 0 disables the watchdog.
    public var timeout: Double {
        get { lock.lock(); defer { lock.unlock() }; return limit }
        set { lock.lock(); limit = newValue; lock.unlock() }
    }

    private let lock = NSLock()
    private var limit = 600.0
    private var current: (operation: String, started: Date)?
    private var sequence = 0
    private var started = false

    /// Runs one collective `operation` (named for the message) under the watchdog.
    public func guarding<T>(_ operation: @autoclosure () -> String, _ body: () throws -> T) rethrows -> T {
        lock.lock()
        sequence += 1
        current = ("\(operation()) #\(sequence)", Date())
        if !started {
            started = true
            let thread = Thread { [weak self] in
                while let watchdog = self, watchdog.checkOnce() {}
            }
            thread.stackSize = 1 << 18
            thread.start()
        }
        lock.unlock()
        defer { lock.lock(); current = nil; lock.unlock() }
        return try body()
    }

    /// The operation that has waited longer than the limit, if any (checked by the thread).
    func overdue(now: Date = Date()) -> (operation: String, waited: Double)? {
        lock.lock()
        defer { lock.unlock() }
        guard limit > 0, let c = current else { return nil }
        let waited = now.timeIntervalSince(c.started)
        return waited > limit ? (c.operation, waited) : nil
    }

    /// Sleeps a second, then ends the process if a collective is overdue; true to go on.
    private func checkOnce() -> Bool {
        Thread.sleep(forTimeInterval: 1)
        if let (operation, waited) = overdue() {
            FileHandleOutput.standardError("autosam: \(operation) has waited \(Int(waited)) s for the other ranks "
                + "(limit \(Int(timeout)) s, run.collective_timeout): a rank that never arrived is hung, "
                + "stopped or on an unreachable node; ending the job\n")
            _exit(1)
        }
        return true
    }
}
