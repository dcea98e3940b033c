import Foundation
import Tensors

/// Several ranks as threads of one process, for unit tests of distributed logic (the NIOEmbedded
/// idea): `LocalGroup.run(size:) { comm in ... }` runs the body once per rank concurrently and
/// returns the per-rank results in rank order. Collectives rendezvous through a shared hub; sums
/// are taken in rank order, so results are deterministic. With more than one rank OpenBLAS runs
/// single-threaded for the group's duration (one core per rank; restored afterwards): its thread
/// count is process-wide, so otherwise one rank's single-threaded phases
/// (`RowParallel.itemsWithSingleThreadedBLAS`) would change the thread count of a peer's GEMMs at
/// moments that depend on timing, and with some kernels (Haswell, Prescott) a GEMM's rounding
/// depends on its thread split: training results then differed from one test run to the next.
///
/// A rank whose body throws fails the group (DESIGN §4.9): every collective that a peer is
/// waiting in, or enters later, throws at once instead of blocking forever, and `run` rethrows
/// the first thrower's own error (not the peers' consequential ones).
public enum LocalGroup {
    public static func run<R>(size: Int, _ body: @escaping (Communicator) throws -> R) throws -> [R] {
        precondition(size >= 1)
        let blasThreads = BLASRuntime.threads
        if size > 1 { BLASRuntime.setThreads(1) }
        defer { if size > 1 { BLASRuntime.setThreads(blasThreads) } }
        let group = GroupState()
        let hub = Hub(size: size, group: group)
        let results = ResultSlots<R>(size)
        // One real thread per rank: ranks block on each other inside collectives, so a pool
        // bounded by the core count (concurrentPerform) would deadlock with more ranks than cores.
        let done = DispatchGroup()
        for r in 0..<size {
            done.enter()
            let thread = Thread {
                let result = Result { try body(LocalCommunicator(rank: r, hub: hub)) }
                if case .failure(let error) = result { group.fail(rank: r, error) }
                results.set(r, result)
                done.leave()
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
        done.wait()
        if let (_, error) = group.failure { throw error }
        return try results.values.map { try $0!.get() }
    }
}

private final class ResultSlots<R>: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var values: [Result<R, Error>?]
    init(_ n: Int) { values = Array(repeating: nil, count: n) }
    func set(_ i: Int, _ r: Result<R, Error>) { lock.lock(); values[i] = r; lock.unlock() }
}

/// What all hubs of one `LocalGroup.run` share: one condition (so a failure wakes the waiters of
/// every sub-communicator too) and the first failure.
final class GroupState: @unchecked Sendable {
    let condition = NSCondition()
    /// The first rank (world numbering) whose body threw, and its error.
    private(set) var failure: (rank: Int, error: Error)?

    func fail(rank: Int, _ error: Error) {
        condition.lock()
        defer { condition.unlock() }
        if failure == nil { failure = (rank, error) }
        condition.broadcast()
    }
}

/// The meeting point of one communicator's ranks: an all-gather of byte payloads, from which
/// every other collective is built.
final class Hub: @unchecked Sendable {
    let size: Int
    let group: GroupState
    private var slots: [[UInt8]?]
    private var arrived = 0
    private var generation = 0
    private var result: [[UInt8]] = []
    private var children: [String: Hub] = [:]

    init(size: Int, group: GroupState) {
        self.size = size
        self.group = group
        self.slots = Array(repeating: nil, count: size)
    }

    /// Every rank's bytes in rank order; throws as soon as any rank of the group has failed.
    func exchange(rank: Int, _ bytes: [UInt8], operation: String) throws -> [[UInt8]] {
        let condition = group.condition
        condition.lock()
        defer { condition.unlock() }
        try checkFailure(rank: rank, operation: operation)
        let myGeneration = generation
        slots[rank] = bytes
        arrived += 1
        if arrived == size {
            result = slots.map { $0! }
            slots = Array(repeating: nil, count: size)
            arrived = 0
            generation += 1
            condition.broadcast()
        } else {
            while generation == myGeneration {
                try checkFailure(rank: rank, operation: operation)
                condition.wait()
            }
        }
        return result
    }

    private func checkFailure(rank: Int, operation: String) throws {
        guard let (failed, error) = group.failure else { return }
        throw CollectiveError(rank: rank, operation: operation, detail: "world rank \(failed) failed: \(error)")
    }

    /// The hub shared by all ranks that asked for `name` (created by the first one).
    func child(_ name: String, size: Int) -> Hub {
        group.condition.lock()
        defer { group.condition.unlock() }
        if let h = children[name] { return h }
        let h = Hub(size: size, group: group)
        children[name] = h
        return h
    }
}

final class LocalCommunicator: Communicator {
    let rank: Int
    let hub: Hub
    private var splits = 0
    var size: Int { hub.size }

    init(rank: Int, hub: Hub) {
        self.rank = rank
        self.hub = hub
    }

    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws { try reduce(buffer, +) }
    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws { try reduce(buffer, +) }
    func allReduceMax(_ buffer: UnsafeMutableBufferPointer<Double>) throws { try reduce(buffer, Swift.max) }

    private func reduce<T: BinaryFloatingPoint>(_ buffer: UnsafeMutableBufferPointer<T>, _ op: (T, T) -> T) throws {
        let all = try hub.exchange(rank: rank, Array(UnsafeRawBufferPointer(buffer)), operation: "allReduce")
        for bytes in all where bytes.count != all[0].count {
            throw CollectiveError(rank: rank, operation: "allReduce",
                                  detail: "buffer lengths differ across ranks "
                                      + "(\(bytes.count) vs \(all[0].count) bytes)")
        }
        for (r, bytes) in all.enumerated() {
            bytes.withUnsafeBytes { raw in
                let values = raw.bindMemory(to: T.self)
                for i in 0..<buffer.count { buffer[i] = r == 0 ? values[i] : op(buffer[i], values[i]) }
            }
        }
    }

    func broadcast(_ bytes: inout [UInt8], root: Int) throws {
        guard root >= 0 && root < size else {
            throw CollectiveError(rank: rank, operation: "broadcast", detail: "root \(root) outside 0..<\(size)")
        }
        bytes = try hub.exchange(rank: rank, bytes, operation: "broadcast")[root]
    }

    func allGather(_ bytes: [UInt8]) throws -> [[UInt8]] { try hub.exchange(rank: rank, bytes, operation: "allGather") }

    func barrier() throws { _ = try hub.exchange(rank: rank, [], operation: "barrier") }

    func split(color: Int, key: Int) throws -> Communicator {
        var mine = [Int64(color), Int64(key), Int64(rank)]
        let all = try hub.exchange(rank: rank, mine.withUnsafeBytes { Array($0) }, operation: "split").map { bytes in
            bytes.withUnsafeBytes { Array($0.bindMemory(to: Int64.self)) }
        }
        mine = [Int64(color), Int64(key), Int64(rank)]
        let members = all.filter { $0[0] == mine[0] }.sorted { ($0[1], $0[2]) < ($1[1], $1[2]) }
        let newRank = members.firstIndex { $0[2] == Int64(rank) }!
        splits += 1
        let child = hub.child("\(splits)/\(color)", size: members.count)
        return LocalCommunicator(rank: newRank, hub: child)
    }

    func abort(_ message: String) -> Never {
        fatalError("rank \(rank): \(message)")
    }
}
