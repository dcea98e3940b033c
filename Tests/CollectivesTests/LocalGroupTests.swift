import XCTest
import Collectives

final class LocalGroupTests: XCTestCase {
    func testAllReduceSumsInRankOrderOnEveryRank() throws {
        let results = try LocalGroup.run(size: 3) { comm -> [Float] in
            var v: [Float] = [Float(comm.rank), 1, Float(comm.rank * comm.rank)]
            try comm.allReduceSum(&v)
            return v
        }
        XCTAssertEqual(results, Array(repeating: [3, 3, 5], count: 3))
    }

    func testBroadcastGatherAndMax() throws {
        let results = try LocalGroup.run(size: 4) { comm -> ([UInt8], [[UInt8]]?, Double) in
            var bytes: [UInt8] = comm.rank == 2 ? [7, 8, 9] : [1]
            try comm.broadcast(&bytes, root: 2)
            let gathered = try comm.gather([UInt8(comm.rank)], root: 0)
            var m: [Double] = [Double(comm.rank) * -1]
            try comm.allReduceMax(&m)
            return (bytes, gathered, m[0])
        }
        for (r, (bytes, gathered, m)) in results.enumerated() {
            XCTAssertEqual(bytes, [7, 8, 9])
            XCTAssertEqual(gathered, r == 0 ? [[0], [1], [2], [3]] : nil)
            XCTAssertEqual(m, 0)
        }
    }

    func testSplitGivesOneGroupPerColorOrderedByKey() throws {
        let results = try LocalGroup.run(size: 4) { comm -> (Int, Int, Float) in
            let sub = try comm.split(color: comm.rank % 2, key: -comm.rank)
            var v: [Float] = [Float(comm.rank)]
            try sub.allReduceSum(&v)
            return (sub.rank, sub.size, v[0])
        }
        // color 0: world ranks 0, 2 (key 0, -2 -> order 2, 0); color 1: ranks 1, 3.
        XCTAssertEqual(results.map(\.0), [1, 1, 0, 0])
        XCTAssertEqual(results.map(\.1), [2, 2, 2, 2])
        XCTAssertEqual(results.map(\.2), [2, 4, 2, 4])
    }

    func testBitIdenticalCheckDetectsDivergence() throws {
        let same = try LocalGroup.run(size: 2) { try $0.isBitIdentical([1, 2, 3]) }
        XCTAssertEqual(same, [true, true])
        let differ = try LocalGroup.run(size: 2) { comm in
            try comm.isBitIdentical([1, 2, comm.rank == 0 ? 3 : 3.0000002])
        }
        XCTAssertEqual(differ, [false, false])
    }

    func testMismatchedBufferLengthsThrowNamingTheRank() {
        XCTAssertThrowsError(try LocalGroup.run(size: 2) { comm -> Void in
            var v = [Float](repeating: 1, count: comm.rank + 1)
            try comm.allReduceSum(&v)
        }) { error in
            XCTAssertTrue("\(error)".contains("buffer lengths differ"), "\(error)")
        }
    }

    struct RankFailure: Error, CustomStringConvertible {
        let rank: Int
        var description: String { "rank \(rank) gave up" }
    }

    /// A rank that throws while its peers wait in (or later enter) a collective ends the group:
    /// the peers' collectives throw instead of blocking forever, and `run` rethrows the thrower's
    /// own error. Before the fix this test hung.
    func testAThrowingRankFailsItsPeersCollectivesPromptly() {
        XCTAssertThrowsError(try LocalGroup.run(size: 3) { comm -> Void in
            var v: [Float] = [1]
            try comm.allReduceSum(&v)
            if comm.rank == 1 { throw RankFailure(rank: 1) }
            try comm.allReduceSum(&v)        // ranks 0 and 2 wait here for rank 1
            try comm.barrier()
        }) { error in
            XCTAssertEqual((error as? RankFailure)?.rank, 1, "the thrower's error, not a peer's: \(error)")
        }
    }

    /// The same inside sub-communicators: a failure in one colour's group wakes the other group too.
    func testAFailureReachesRanksWaitingInASubCommunicator() {
        XCTAssertThrowsError(try LocalGroup.run(size: 4) { comm -> Void in
            let sub = try comm.split(color: comm.rank % 2, key: comm.rank)
            if comm.rank == 3 { throw RankFailure(rank: 3) }
            try sub.barrier()                // rank 1 waits for rank 3 in its colour's group
            try comm.barrier()               // ranks 0 and 2 wait for everyone in the world
        }) { error in
            XCTAssertEqual((error as? RankFailure)?.rank, 3, "\(error)")
        }
    }

    func testSingleProcessCommunicatorIsIdentity() throws {
        let c = SingleProcessCommunicator()
        var v: [Float] = [1, 2]
        try c.allReduceSum(&v)
        XCTAssertEqual(v, [1, 2])
        XCTAssertEqual(try c.allGather([5]), [[5]])
    }
}
