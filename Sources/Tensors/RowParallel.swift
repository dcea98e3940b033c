import Dispatch
import Foundation

/// Row-parallel work for the non-GEMM stages (element-wise maps, transposes, scatters, per-image
/// normalisation): rows are split into at most `BLASRuntime.threads` contiguous chunks run with
/// `DispatchQueue.concurrentPerform`. The BLAS threads are idle between GEMMs, so this uses the
/// same cores. Small jobs run inline.
///
/// Every row is computed by exactly one chunk and the arithmetic inside a row does not depend on
/// the split, so results are bit-identical for any thread count; callers must not reduce across
/// rows inside `body` (accumulate per row, then reduce in a fixed order).
public enum RowParallel {
    /// Fewer elements than this per chunk are not worth a thread hand-off.
    public static let minimumChunkElements = 1 << 15

    /// At most this many chunks when set (tests compare a serial split with the parallel one
    /// while BLAS keeps its threads, since OpenBLAS's own results may depend on its thread count).
    nonisolated(unsafe) public static var chunkLimit: Int?

    /// Calls `body(rows)` on disjoint row ranges covering 0..<rows; `width` is the elements per row.
    public static func run(rows: Int, width: Int, _ body: (Range<Int>) -> Void) {
        let chunks = min(chunkLimit ?? BLASRuntime.threads, max(1, rows * width / minimumChunkElements), rows)
        guard chunks > 1 else {
            if rows > 0 { body(0..<rows) }
            return
        }
        DispatchQueue.concurrentPerform(iterations: chunks) { k in
            body(rows * k / chunks ..< rows * (k + 1) / chunks)
        }
    }

    /// Calls `body(start, count)` on disjoint blocks of `0..<count` elements (multiples of `block`
    /// except the last), for element-wise maps over a flat buffer.
    public static func elements(_ count: Int, block: Int = 4096, _ body: (Int, Int) -> Void) {
        let blocks = (count + block - 1) / block
        run(rows: blocks, width: block) { range in
            let start = range.lowerBound * block
            body(start, min(range.upperBound * block, count) - start)
        }
    }
}

extension RowParallel {
    /// Calls `body` on contiguous chunks covering 0..<items, one chunk per BLAS thread, run
    /// concurrently while BLAS is single-threaded (small per-head GEMMs parallelise badly inside
    /// BLAS, so each core takes whole items instead); inline when T = 1 or items = 1. Items must
    /// write disjoint memory. Nested or concurrent callers (ranks as threads in tests) share one
    /// single-threaded phase: the thread count is restored when the last of them leaves.
    public static func itemsWithSingleThreadedBLAS(_ items: Int, _ body: (Range<Int>) -> Void) {
        let threads = BLASRuntime.threads, chunks = min(threads, items)
        guard chunks > 1 else {
            if items > 0 { body(0..<items) }
            return
        }
        SingleThreadedPhase.enter()
        defer { SingleThreadedPhase.leave() }
        DispatchQueue.concurrentPerform(iterations: chunks) { k in
            body(items * k / chunks ..< items * (k + 1) / chunks)
        }
    }
}

/// Reference-counted "BLAS single-threaded" phase: the first caller saves the thread count and sets
/// 1, the last restores it.
private enum SingleThreadedPhase {
    nonisolated(unsafe) static var depth = 0
    nonisolated(unsafe) static var saved = 1
    static let lock = NSLock()

    static func enter() {
        lock.lock()
        defer { lock.unlock() }
        if depth == 0 {
            saved = BLASRuntime.threads
            BLASRuntime.setThreads(1)
        }
        depth += 1
    }

    static func leave() {
        lock.lock()
        defer { lock.unlock() }
        depth -= 1
        if depth == 0 { BLASRuntime.setThreads(saved) }
    }
}
