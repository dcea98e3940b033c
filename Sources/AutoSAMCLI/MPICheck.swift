import ArgumentParser
import Collectives
import Foundation

/// `autosam mpi-check`: exercises every collective on the real communicator and prints one line
/// per rank; used by the integration tests under mpirun and by users checking a cluster set-up.
struct MPICheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mpi-check",
        abstract: "Check the MPI set-up: run each collective across the ranks and report.",
        discussion: "Run under mpirun, e.g. `mpirun -np 2 autosam mpi-check`; without mpirun it checks a single rank."
    )

    @Option(help: "Make this rank fail after the collectives (tests the job-abort path).")
    var failRank: Int?

    func run() throws {
        RankedJob.run { comm in
            let (r, n) = (comm.rank, comm.size)
            var sum: [Float] = [Float(r + 1), 1]
            try comm.allReduceSum(&sum)
            guard sum == [Float(n * (n + 1) / 2), Float(n)] else {
                throw CollectiveError(rank: r, operation: "check", detail: "allReduceSum gave \(sum)")
            }
            var message = Array("hello from 0".utf8)
            if r != 0 { message = [] }
            try comm.broadcast(&message, root: 0)
            let gathered = try comm.allGather([UInt8(r)])
            guard String(decoding: message, as: UTF8.self) == "hello from 0",
                  gathered == (0..<n).map({ [UInt8($0)] }) else {
                throw CollectiveError(rank: r, operation: "check", detail: "broadcast/allGather mismatch")
            }
            let pairs = try comm.split(color: r % 2, key: r)
            var one: [Double] = [1]
            try pairs.allReduceSum(&one)
            let identical = try comm.isBitIdentical([1, 2, 3])
            if let failRank, failRank == r {
                throw CollectiveError(rank: r, operation: "mpi-check", detail: "induced failure")
            }
            try comm.barrier()
            print("rank \(r)/\(n): allreduce ok, broadcast ok, allgather ok, "
                  + "split group size \(Int(one[0])), bit-identical \(identical)")
        }
    }
}
