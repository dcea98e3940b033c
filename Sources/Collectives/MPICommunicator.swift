import CMPI
import Foundation

/// The MPI communicator for jobs under `mpirun`. Every call's return code is checked (the error
/// handler is MPI_ERRORS_RETURN) and turned into a `CollectiveError` naming the rank and call.
/// Buffers above 2^30 elements are split, since MPI counts are Int32.
public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int
    private let comm: MPI_Comm
    private static let chunk = 1 << 30
    /// "rank r of world ranks [...]", for watchdog messages.
    private let identity: String

    /// Initialises MPI once (thread level FUNNELED) and returns MPI_COMM_WORLD.
    public static func world() throws -> MPICommunicator {
        var initialized: Int32 = 0
        MPI_Initialized(&initialized)
        if initialized == 0 {
            var provided: Int32 = 0
            let rc = MPI_Init_thread(nil, nil, Int32(MPI_THREAD_FUNNELED), &provided)
            guard rc == autosam_mpi_success() else {
                throw CollectiveError(rank: -1, operation: "MPI_Init_thread", detail: "return code \(rc)")
            }
        }
        return try MPICommunicator(autosam_mpi_comm_world())
    }

    /// Finalises MPI at the end of a successful run (all ranks must call it).
    public static func finalize() {
        var finalized: Int32 = 0
        MPI_Finalized(&finalized)
        if finalized == 0 { MPI_Finalize() }
    }

    private init(_ comm: MPI_Comm) throws {
        self.comm = comm
        MPI_Comm_set_errhandler(comm, autosam_mpi_errors_return())
        var r: Int32 = 0, s: Int32 = 0
        MPI_Comm_rank(comm, &r)
        MPI_Comm_size(comm, &s)
        rank = Int(r)
        size = Int(s)
        var worldRank: Int32 = 0
        MPI_Comm_rank(autosam_mpi_comm_world(), &worldRank)
        identity = "world rank \(worldRank) (rank \(r) of \(s) in its communicator)"
    }

    /// Every blocking MPI call goes through here: the return code is checked and the call runs
    /// under the `CollectiveWatchdog`.
    private func collective(_ operation: String, _ call: () -> Int32) throws {
        let rc = CollectiveWatchdog.shared.guarding("\(identity): \(operation)") { call() }
        try check(rc, operation)
    }

    private func check(_ rc: Int32, _ operation: String) throws {
        guard rc != autosam_mpi_success() else { return }
        var text = [CChar](repeating: 0, count: Int(MPI_MAX_ERROR_STRING))
        var length: Int32 = 0
        MPI_Error_string(rc, &text, &length)
        throw CollectiveError(rank: rank, operation: operation, detail: String(cString: text))
    }

    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        try allReduce(buffer, autosam_mpi_float(), autosam_mpi_sum(), "MPI_Allreduce(sum, float)")
    }

    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws {
        try allReduce(buffer, autosam_mpi_double(), autosam_mpi_sum(), "MPI_Allreduce(sum, double)")
    }

    public func allReduceMax(_ buffer: UnsafeMutableBufferPointer<Double>) throws {
        try allReduce(buffer, autosam_mpi_double(), autosam_mpi_max(), "MPI_Allreduce(max, double)")
    }

    private func allReduce<T>(_ buffer: UnsafeMutableBufferPointer<T>, _ type: MPI_Datatype, _ op: MPI_Op,
                              _ name: String) throws {
        guard let base = buffer.baseAddress else { return }
        var start = 0
        while start < buffer.count {
            let n = min(Self.chunk, buffer.count - start)
            try collective(name) { MPI_Allreduce(autosam_mpi_in_place(), base + start, Int32(n), type, op, comm) }
            start += n
        }
    }

    public func broadcast(_ bytes: inout [UInt8], root: Int) throws {
        var length = [Int64(bytes.count)]
        try collective("MPI_Bcast(length)") { MPI_Bcast(&length, 1, autosam_mpi_int64(), Int32(root), comm) }
        if rank != root { bytes = [UInt8](repeating: 0, count: Int(length[0])) }
        try bytes.withUnsafeMutableBytes { raw in
            var start = 0
            while start < raw.count {
                let n = min(Self.chunk, raw.count - start)
                try collective("MPI_Bcast") {
                    MPI_Bcast(raw.baseAddress! + start, Int32(n), autosam_mpi_uint8(), Int32(root), comm)
                }
                start += n
            }
        }
    }

    public func allGather(_ bytes: [UInt8]) throws -> [[UInt8]] {
        var mine = [Int64(bytes.count)]
        var counts = [Int64](repeating: 0, count: size)
        try collective("MPI_Allgather(counts)") {
            MPI_Allgather(&mine, 1, autosam_mpi_int64(), &counts, 1, autosam_mpi_int64(), comm)
        }
        let total = counts.reduce(0, +)
        guard total < Int64(Int32.max) else {
            throw CollectiveError(rank: rank, operation: "allGather", detail: "\(total) bytes exceed one MPI message")
        }
        var displacements = [Int32](repeating: 0, count: size)
        for r in 1..<max(size, 1) where r < size { displacements[r] = displacements[r - 1] + Int32(counts[r - 1]) }
        var received = [UInt8](repeating: 0, count: Int(total))
        var counts32 = counts.map { Int32($0) }
        var send = bytes
        try collective("MPI_Allgatherv") {
            MPI_Allgatherv(&send, Int32(bytes.count), autosam_mpi_uint8(), &received, &counts32, &displacements,
                           autosam_mpi_uint8(), comm)
        }
        return (0..<size).map { r in
            Array(received[Int(displacements[r]) ..< Int(displacements[r]) + Int(counts[r])])
        }
    }

    public func barrier() throws { try collective("MPI_Barrier") { MPI_Barrier(comm) } }

    public func split(color: Int, key: Int) throws -> Communicator {
        var newComm: MPI_Comm? = autosam_mpi_comm_null()
        try collective("MPI_Comm_split") { MPI_Comm_split(comm, Int32(color), Int32(key), &newComm) }
        guard let created = newComm else {
            throw CollectiveError(rank: rank, operation: "MPI_Comm_split", detail: "no communicator returned")
        }
        return try MPICommunicator(created)
    }

    public func abort(_ message: String) -> Never {
        var worldRank: Int32 = 0
        MPI_Comm_rank(autosam_mpi_comm_world(), &worldRank)
        FileHandleOutput.standardError("autosam: rank \(worldRank) failed: \(message)\n")
        MPI_Abort(autosam_mpi_comm_world(), 1)
        exit(1)
    }
}

/// The communicator for this process: MPI when a launcher started it (mpirun/mpiexec set
/// OMPI_COMM_WORLD_SIZE; `srun --mpi=pmix` and other PMI launchers set PMIX_RANK or PMI_RANK;
/// SLURM sets SLURM_NTASKS), with the world taken from MPI itself; otherwise a single rank with no
/// MPI initialisation at all. A multi-task launch in which MPI sees one rank (srun without
/// `--mpi=pmix`, an MPI library that does not match the launcher) is an error: otherwise N
/// copies would each run the whole job into the same output folder.
public enum Communicators {
    public static func forThisProcess(environment: [String: String] = ProcessInfo.processInfo.environment) throws
        -> Communicator {
        let launched = ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"].contains {
            environment[$0] != nil
        }
        let tasks = expectedTasks(environment)
        guard launched || tasks > 1 else { return SingleProcessCommunicator() }
        let world = try MPICommunicator.world()
        if world.size == 1 && tasks > 1 {
            throw CollectiveError(rank: 0, operation: "start",
                                  detail: "the launcher started \(tasks) tasks but MPI sees a world of 1 rank: "
                                      + "each task would run the whole job alone. Under SLURM use `srun --mpi=pmix` "
                                      + "(or mpirun inside the allocation) with the OpenMPI this program was built "
                                      + "with; see cluster/README.md")
        }
        return world
    }

    /// How many tasks the launcher's environment says the job has (1 when it says nothing).
    static func expectedTasks(_ environment: [String: String]) -> Int {
        ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_NTASKS"].compactMap { environment[$0].flatMap { Int($0) } }
            .max() ?? 1
    }
}
