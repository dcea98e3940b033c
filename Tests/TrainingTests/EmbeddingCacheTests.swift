import XCTest
import Tensors
import TestSupport
@testable import Baselines
@testable import Config
@testable import Embeddings
@testable import Evaluation
@testable import Experiments
@testable import Runs
@testable import Training

final class EmbeddingCacheTests: XCTestCase {
    private func makeCache() throws -> EmbeddingCache {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("cache-\(UUID().uuidString)")
        return try EmbeddingCache(root: root, folderKey: "enc")
    }

    func testRoundTripFp32ExactAndFp16WithinHalfPrecision() throws {
        let t = randomTensor([2, 3, 5], seed: 1)
        let cache = try makeCache()
        try cache.store("a", t, .fp32)
        XCTAssertEqual(cache.load("a", .fp32), t)
        XCTAssertNil(cache.load("a", .fp16), "the precision is part of the entry")
        try cache.store("a", t, .fp16)
        let back = try XCTUnwrap(cache.load("a", .fp16))
        XCTAssertEqual(back.shape, t.shape)
        assertClose(back.data, t.data, atol: 1e-3, rtol: 1e-3, "fp16")
        XCTAssertNotEqual(back, t)
        XCTAssertEqual(cache.load("a", .fp32), t, "storing the fp16 value leaves the fp32 one alone")
        XCTAssertEqual(try cache.value("b", .fp16) { t }, back,
                       "a computed value is returned as a later read returns it")
    }

    /// An entry whose header says another precision than its file name is rejected.
    func testAnEntryOfTheWrongPrecisionIsRejected() throws {
        let cache = try makeCache()
        try cache.store("a", randomTensor([8], seed: 3), .fp16)
        try FileManager.default.moveItem(at: cache.url(for: "a", .fp16), to: cache.url(for: "a", .fp32))
        XCTAssertNil(cache.load("a", .fp32))
        XCTAssertEqual(cache.rejected, 1)
    }

    func testComputeRunsOncePerKey() throws {
        let cache = try makeCache()
        var calls = 0
        for _ in 0..<3 {
            _ = try cache.value("k", .fp32) { calls += 1; return Tensor(repeating: 2, shape: [4]) }
        }
        XCTAssertEqual(calls, 1)
        XCTAssertEqual(cache.hits, 2)
    }

    /// A truncated, a bit-flipped and a header-damaged entry are never read as valid.
    func testDamagedEntriesAreMisses() throws {
        let cache = try makeCache()
        let t = randomTensor([64], seed: 2)
        try cache.store("x", t, .fp32)
        let url = cache.url(for: "x", .fp32)
        let good = try Data(contentsOf: url)
        for damaged in [good.prefix(good.count - 1), good.prefix(20),
                        { var d = good; d[d.count - 3] ^= 0x10; return d }(),
                        { var d = good; d[0] = 0; return d }(), Data()] {
            try damaged.write(to: url)
            XCTAssertNil(cache.load("x", .fp32))
        }
        XCTAssertEqual(cache.rejected, 5)
        var recomputed = 0
        XCTAssertEqual(try cache.value("x", .fp32) { recomputed += 1; return t }, t)
        XCTAssertEqual(recomputed, 1)
        XCTAssertEqual(cache.load("x", .fp32), t)
    }

    func testEntryKeysDependOnContent() {
        let a: [Float] = [1, 2, 3], b: [Float] = [1, 2, 4]
        XCTAssertEqual(EmbeddingCache.entryKey(volume: "p1 f1", slice: 0, view: 0, pixels: a[...]),
                       EmbeddingCache.entryKey(volume: "p1 f1", slice: 0, view: 0, pixels: a[...]))
        XCTAssertNotEqual(EmbeddingCache.entryKey(volume: "p", slice: 0, view: 0, pixels: a[...]),
                          EmbeddingCache.entryKey(volume: "p", slice: 0, view: 0, pixels: b[...]))
        XCTAssertNotEqual(EmbeddingCache.entryKey(volume: "p", slice: 0, view: 0, pixels: a[...]),
                          EmbeddingCache.entryKey(volume: "p", slice: 0, view: 1, pixels: a[...]))
        XCTAssertFalse(EmbeddingCache.entryKey(volume: "../x/y", slice: 0, view: 0, pixels: a[...]).contains("/"))
    }

    /// Key digests are SHA-256 prefixes: the same on every machine and in every process.
    func testDigestsAreStableSHA256Prefixes() throws {
        XCTAssertEqual(EmbeddingCache.digest("abc"), "ba7816bf8f01cfea")
        struct Settings: Encodable { var size = 32, name = "x" }
        XCTAssertEqual(try EmbeddingCache.digest(of: Settings()), EmbeddingCache.digest(#"{"name":"x","size":32}"#))
    }
}
