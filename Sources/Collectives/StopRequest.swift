import Foundation

/// Graceful stops (DESIGN §4.7, issue 15): clusters preempt jobs with SIGTERM (or a requested
/// SIGUSR1) some seconds before a SIGKILL, and a user stops a run with Ctrl-C (SIGINT). After
/// `install()`, the first such signal only records the request; training agrees on it at the next
/// step boundary (`agreed(in:)`: one 8-byte all-reduce, so a signal on any one rank stops all of
/// them at the same step), the coordinator checkpoints that step and the job ends with
/// `Preempted.exitCode`. A second signal of the same kind ends the process at once (the default
/// action is restored after the first).
public enum StopRequest {
    /// The signals that request a stop.
    public static let signals: [Int32] = [SIGTERM, SIGUSR1, SIGINT]

    /// Records the first stop signal; checked at step boundaries.
    public static func install() {
        _ = stopMessages.count        // initialise the global now: the handler must not
        for s in signals {
            signal(s) { number in
                stopSignalNumber = number
                // write(2) is async-signal-safe; the message is built before any signal arrives.
                let message = stopMessages[Int(number)] ?? stopMessages[0]!
                message.withUnsafeBufferPointer { _ = write(2, $0.baseAddress, $0.count) }
                signal(number, SIG_DFL)
            }
        }
    }

    /// The signal that requested a stop on this process, nil when none did.
    public static var localSignal: Int32? { stopSignalNumber == 0 ? nil : stopSignalNumber }

    /// Requests a stop as a signal would (tests, `--stop-after-steps`-like hooks).
    public static func request(_ number: Int32 = SIGTERM) { stopSignalNumber = number }

    /// Clears a request (tests run several trainings in one process).
    public static func reset() { stopSignalNumber = 0 }

    /// True on every rank of `comm` iff some rank of it has a stop request; every rank must call
    /// it at the same point (a step boundary).
    public static func agreed(in comm: Communicator) throws -> Bool {
        var flag: [Double] = [stopSignalNumber == 0 ? 0 : 1]
        try comm.allReduceMax(&flag)
        return flag[0] > 0
    }

    /// Human name of a stop signal.
    public static func name(_ number: Int32) -> String {
        switch number {
        case SIGTERM: return "SIGTERM"
        case SIGUSR1: return "SIGUSR1"
        case SIGINT: return "SIGINT"
        default: return "signal \(number)"
        }
    }
}

/// Set by the signal handler (a plain aligned 32-bit store, atomic on every supported CPU).
nonisolated(unsafe) private var stopSignalNumber: Int32 = 0

/// The handler's messages, one per stop signal, made before any handler runs.
nonisolated(unsafe) private let stopMessages: [Int: [UInt8]] = {
    var messages: [Int: [UInt8]] = [0: Array("autosam: stop requested\n".utf8)]
    for s in StopRequest.signals {
        messages[Int(s)] = Array(("autosam: \(StopRequest.name(s)) received: stopping at the next step boundary "
                                  + "with a checkpoint (send it again to end at once)\n").utf8)
    }
    return messages
}()

/// A training stopped on request at a step boundary after its checkpoint was written. Every rank
/// of the job throws it together; the job then ends with `exitCode`, so a batch script can
/// requeue it and continue with `--resume auto`.
public struct Preempted: Error, CustomStringConvertible {
    /// EX_TEMPFAIL (sysexits.h): "try again later".
    public static let exitCode: Int32 = 75
    public let detail: String
    public init(_ detail: String) { self.detail = detail }
    public var description: String { "stopped on request: \(detail); continue with --resume auto" }
}
