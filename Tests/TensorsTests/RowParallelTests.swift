import Foundation
import Tensors
import XCTest

final class RowParallelTests: XCTestCase {
    /// Every row is visited exactly once, for sizes below and above the hand-off threshold.
    func testRunVisitsEveryRowOnce() {
        for (rows, width) in [(0, 10), (1, 1 << 20), (7, 3), (9, 1 << 14), (1000, 4096)] {
            let counts = UnsafeMutablePointer<Int32>.allocate(capacity: max(rows, 1))
            defer { counts.deallocate() }
            counts.initialize(repeating: 0, count: max(rows, 1))
            RowParallel.run(rows: rows, width: width) { range in
                for r in range { counts[r] += 1 }
            }
            XCTAssertTrue((0..<rows).allSatisfy { counts[$0] == 1 }, "rows \(rows) width \(width)")
        }
    }

    func testElementBlocksCoverTheBufferOnce() {
        for (count, block) in [(0, 4096), (1, 4096), (4097, 4096), (1 << 18, 4096), (100_003, 1000)] {
            var covered = [Int](repeating: 0, count: count)
            covered.withUnsafeMutableBufferPointer { buffer in
                RowParallel.elements(count, block: block) { start, length in
                    XCTAssertEqual(start % block, 0)
                    for i in start..<(start + length) { buffer[i] += 1 }
                }
            }
            XCTAssertTrue(covered.allSatisfy { $0 == 1 }, "count \(count) block \(block)")
        }
    }

    /// The single-threaded BLAS phase restores the thread count, also when callers overlap (ranks
    /// as threads in one process).
    func testSingleThreadedPhaseRestoresTheThreadCount() {
        let before = BLASRuntime.threads
        BLASRuntime.setThreads(2)
        defer { BLASRuntime.setThreads(before) }
        var seen = [Int](repeating: 0, count: 16)
        seen.withUnsafeMutableBufferPointer { buffer in
            DispatchQueue.concurrentPerform(iterations: 4) { caller in
                RowParallel.itemsWithSingleThreadedBLAS(4) { items in
                    for item in items { buffer[caller * 4 + item] = BLASRuntime.threads }
                }
            }
        }
        XCTAssertTrue(seen.allSatisfy { $0 == 1 || $0 == 2 })
        XCTAssertEqual(BLASRuntime.threads, 2, "the thread count is restored after the last caller leaves")
    }
}

final class HeapPolicyTests: XCTestCase {
    /// A large block freed and allocated again reuses its pages instead of faulting in fresh ones.
    func testFreedLargeBlocksAreReused() throws {
        #if os(Linux)
        XCTAssertTrue(HeapPolicy.keepFreedMemory())
        let count = 16 << 20   // 64 MB of floats, far above glibc's mmap threshold
        func touchOnce() {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: count)
            p.initialize(repeating: 1, count: count)
            p.deallocate()
        }
        touchOnce()
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let faults = usage.ru_minflt
        touchOnce()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        // 64 MB of fresh pages would be ~16k faults (4 KB pages).
        XCTAssertLessThan(usage.ru_minflt - faults, 1000)
        #else
        throw XCTSkip("glibc heap policy")
        #endif
    }
}

/// `ItemGroups` partition the items into consecutive, non-empty groups whose partials fit the budget.
final class ItemGroupsTests: XCTestCase {
    func testGroupsCoverEveryItemOnceWithinTheBudget() {
        for (items, floats, budget) in [(16, 65_536, 1 << 22), (32, 1 << 20, 1 << 22), (7, 10, 25), (1, 99, 10),
                                        (5, 0, 1), (0, 3, 9)] {
            let groups = ItemGroups(items: items, partialFloats: floats, budget: budget)
            let ranges = (0..<groups.count).map { groups[$0] }
            XCTAssertEqual(ranges.flatMap { Array($0) }, Array(0..<items), "items \(items)")
            XCTAssertTrue(ranges.allSatisfy { !$0.isEmpty }, "empty group for items \(items)")
            if items > 0 { XCTAssertTrue(groups.count * floats <= budget || groups.count == 1, "budget") }
        }
        XCTAssertEqual(ItemGroups(items: 16, partialFloats: 65_536).count, 16)
        XCTAssertEqual(ItemGroups(items: 32, partialFloats: 1 << 20).count, 4)
    }

    func testPartialSumsAddInGroupOrder() {
        let sums = PartialSums(count: 3, 2)
        sums[0].update(from: [1, 2, 3], count: 3)
        sums[1].update(from: [10, 20, 30], count: 3)
        var target: [Float] = [100, 200, 300]
        sums.add(into: &target)
        XCTAssertEqual(target, [111, 222, 333])
    }
}
