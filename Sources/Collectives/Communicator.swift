import Foundation

/// A group of ranks that train together (DESIGN §2, §4). Implementations: `MPICommunicator`
/// (real jobs under mpirun), `SingleProcessCommunicator` (one rank, no MPI calls at all) and
/// `LocalGroup` (several ranks as threads of one process, for unit tests).
///
/// Every collective must be called by every rank of the communicator in the same order.
/// Reductions sum in rank order where the implementation controls it.
public protocol Communicator: AnyObject {
    var rank: Int { get }
    var size: Int { get }

    /// In-place element-wise sum across ranks.
    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws
    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws
    /// In-place element-wise maximum across ranks.
    func allReduceMax(_ buffer: UnsafeMutableBufferPointer<Double>) throws

    /// Replaces every rank's bytes with `root`'s (lengths may differ before the call).
    func broadcast(_ bytes: inout [UInt8], root: Int) throws

    /// Every rank's bytes, in rank order, on every rank.
    func allGather(_ bytes: [UInt8]) throws -> [[UInt8]]

    func barrier() throws

    /// Splits into sub-communicators by `color`, ordered by `key` (MPI_Comm_split semantics).
    func split(color: Int, key: Int) throws -> Communicator

    /// Ends the whole job from this rank with a message naming the rank. Never returns.
    func abort(_ message: String) -> Never
}

/// A failed collective: which rank, which operation, what the library said.
public struct CollectiveError: Error, CustomStringConvertible {
    public let rank: Int
    public let operation: String
    public let detail: String
    public init(rank: Int, operation: String, detail: String) {
        self.rank = rank
        self.operation = operation
        self.detail = detail
    }
    public var description: String { "rank \(rank): \(operation) failed: \(detail)" }
}

extension Communicator {
    public var isCoordinator: Bool { rank == 0 }

    public func allReduceSum(_ values: inout [Float]) throws {
        try values.withUnsafeMutableBufferPointer { try allReduceSum($0) }
    }

    public func allReduceSum(_ values: inout [Double]) throws {
        try values.withUnsafeMutableBufferPointer { try allReduceSum($0) }
    }

    public func allReduceMax(_ values: inout [Double]) throws {
        try values.withUnsafeMutableBufferPointer { try allReduceMax($0) }
    }

    /// Broadcast of a float buffer (same length on every rank) from `root`.
    public func broadcast(_ values: inout [Float], root: Int) throws {
        var bytes = values.withUnsafeBytes { Array($0) }
        try broadcast(&bytes, root: root)
        guard bytes.count == values.count * 4 else {
            throw CollectiveError(rank: rank, operation: "broadcast",
                                  detail: "root sent \(bytes.count / 4) floats, this rank holds \(values.count)")
        }
        bytes.withUnsafeBytes { source in values.withUnsafeMutableBytes { $0.copyMemory(from: source) } }
    }

    /// Gathers every rank's bytes; only meaningful on `root` (others get nil).
    public func gather(_ bytes: [UInt8], root: Int) throws -> [[UInt8]]? {
        let all = try allGather(bytes)
        return rank == root ? all : nil
    }

    /// FNV-1a checksum of `values` compared across ranks: true iff all ranks hold identical bits
    /// (the debug check that parameters stay bit-identical, DESIGN §4.4).
    public func isBitIdentical(_ values: [Float]) throws -> Bool {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for v in values { h = (h ^ UInt64(v.bitPattern)) &* 0x100_0000_01b3 }
        let mine = withUnsafeBytes(of: h.littleEndian) { Array($0) }
        return try allGather(mine).allSatisfy { $0 == mine }
    }
}

/// One rank, no communication: the single-node debug mode and plain `autosam` runs.
public final class SingleProcessCommunicator: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {}
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws {}
    public func allReduceMax(_ buffer: UnsafeMutableBufferPointer<Double>) throws {}
    public func broadcast(_ bytes: inout [UInt8], root: Int) throws {
        precondition(root == 0, "root \(root) outside a 1-rank communicator")
    }
    public func allGather(_ bytes: [UInt8]) throws -> [[UInt8]] { [bytes] }
    public func barrier() throws {}
    public func split(color: Int, key: Int) throws -> Communicator { SingleProcessCommunicator() }
    public func abort(_ message: String) -> Never {
        FileHandleOutput.standardError("autosam: \(message)\n")
        exit(1)
    }
}

/// How work items are shared: rank r takes positions r, r + R, r + 2R, ... so shares differ by
/// at most one item (DESIGN §4.2).
public enum BatchSharding {
    public static func share<T>(_ items: [T], rank: Int, size: Int) -> [T] {
        stride(from: rank, to: items.count, by: size).map { items[$0] }
    }
}
