import Foundation

/// Runs a command body on every rank of this process's communicator with the job-level failure
/// contract of DESIGN §4.9: an error on any rank ends the whole job (MPI_Abort under mpirun)
/// with the failing rank and its message on standard error, never a hang; success finalises MPI.
/// A `Preempted` stop (thrown by every rank together, after the checkpoint) finalises MPI too
/// and exits with `Preempted.exitCode`.
public enum RankedJob {
    public static func run(_ body: (Communicator) throws -> Void) -> Never {
        let comm: Communicator
        do { comm = try Communicators.forThisProcess() } catch {
            FileHandleOutput.standardError("autosam: cannot start MPI: \(error)\n")
            exit(1)
        }
        var code: Int32 = 0
        do {
            try body(comm)
        } catch let stop as Preempted {
            if comm.isCoordinator { FileHandleOutput.standardError("autosam: \(stop)\n") }
            code = Preempted.exitCode
        } catch {
            comm.abort("\(error)")
        }
        if comm is MPICommunicator {
            do { try comm.barrier() } catch { comm.abort("\(error)") }
            MPICommunicator.finalize()
        }
        exit(code)
    }
}
