import XCTest
import Tensors
import TestSupport
@testable import Training

final class EmbeddingCacheTests: XCTestCase {
    private func makeCache(_ precision: EmbeddingCache.Precision) throws -> EmbeddingCache {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("cache-\(UUID().uuidString)")
        return try EmbeddingCache(root: root, encoderKey: "enc", precision: precision)
    }

    func testRoundTripFp32ExactAndFp16WithinHalfPrecision() throws {
        let t = randomTensor([2, 3, 5], seed: 1)
        let c32 = try makeCache(.fp32)
        try c32.store("a", t)
        XCTAssertEqual(c32.load("a"), t)
        let c16 = try makeCache(.fp16)
        try c16.store("a", t)
        let back = try XCTUnwrap(c16.load("a"))
        XCTAssertEqual(back.shape, t.shape)
        assertClose(back.data, t.data, atol: 1e-3, rtol: 1e-3, "fp16")
    }

    func testComputeRunsOncePerKey() throws {
        let cache = try makeCache(.fp32)
        var calls = 0
        for _ in 0..<3 {
            _ = try cache.value("k") { calls += 1; return Tensor(repeating: 2, shape: [4]) }
        }
        XCTAssertEqual(calls, 1)
        XCTAssertEqual(cache.hits, 2)
    }

    /// A truncated, a bit-flipped and a header-damaged entry are never read as valid.
    func testDamagedEntriesAreMisses() throws {
        let cache = try makeCache(.fp32)
        let t = randomTensor([64], seed: 2)
        try cache.store("x", t)
        let url = cache.url(for: "x")
        let good = try Data(contentsOf: url)
        for damaged in [good.prefix(good.count - 1), good.prefix(20), { var d = good; d[d.count - 3] ^= 0x10; return d }(),
                        { var d = good; d[0] = 0; return d }(), Data()] {
            try damaged.write(to: url)
            XCTAssertNil(cache.load("x"))
        }
        XCTAssertEqual(cache.rejected, 5)
        var recomputed = 0
        XCTAssertEqual(try cache.value("x") { recomputed += 1; return t }, t)
        XCTAssertEqual(recomputed, 1)
        XCTAssertEqual(cache.load("x"), t)
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
}
