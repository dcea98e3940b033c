import XCTest
import Tensors

final class CounterRNGTests: XCTestCase {
    /// Known-answer vectors of Philox4x32-10 (Random123 kat_vectors).
    func testPhiloxKnownAnswers() {
        let zero = CounterRNG(seed: 0, stream: 0)
        XCTAssertEqual((0..<4).map { zero.bits(UInt64($0)) }, [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8])
        // counter (ffffffff x4), key (ffffffff x2)
        let ones = CounterRNG(seed: 0xffff_ffff_ffff_ffff, stream: 0xffff_ffff_ffff_ffff)
        let block = ones.philox(counter: 0xffff_ffff_ffff_ffff)
        XCTAssertEqual([block.0, block.1, block.2, block.3], [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd])
    }

    func testValuesDependOnlyOnSeedStreamIndex() {
        let a = CounterRNG(seed: 42, stream: 3)
        let forward = (0..<100).map { a.uniform(UInt64($0)) }
        let backward = (0..<100).reversed().map { a.uniform(UInt64($0)) }.reversed()
        XCTAssertEqual(forward, Array(backward))
        XCTAssertEqual(a.substream(1, 2).uniforms(10), CounterRNG(seed: 42, stream: 3).substream(1, 2).uniforms(10))
        XCTAssertNotEqual(a.substream(1, 2).uniforms(10), a.substream(2, 1).uniforms(10))
        XCTAssertNotEqual(a.uniforms(10), CounterRNG(seed: 43, stream: 3).uniforms(10))
    }

    func testUniformAndNormalMoments() {
        let rng = CounterRNG(seed: 5)
        let u = rng.uniforms(100_000)
        XCTAssertTrue(u.allSatisfy { $0 >= 0 && $0 < 1 })
        XCTAssertEqual(Double(u.reduce(0, +)) / 1e5, 0.5, accuracy: 0.01)
        let z = rng.normals(100_000).map(Double.init)
        let mean = z.reduce(0, +) / 1e5
        let variance = z.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 1e5
        XCTAssertEqual(mean, 0, accuracy: 0.02)
        XCTAssertEqual(variance, 1, accuracy: 0.02)
        XCTAssertTrue(z.allSatisfy(\.isFinite))
    }

    func testPermutationIsAPermutationAndSeedDependent() {
        let p = CounterRNG(seed: 9).permutation(50)
        XCTAssertEqual(p.sorted(), Array(0..<50))
        XCTAssertNotEqual(p, Array(0..<50))
        XCTAssertEqual(p, CounterRNG(seed: 9).permutation(50))
        XCTAssertNotEqual(p, CounterRNG(seed: 10).permutation(50))
        XCTAssertEqual(CounterRNG(seed: 1).permutation(1), [0])
        XCTAssertEqual(CounterRNG(seed: 1).permutation(0), [])
        // Every position receives every value over many seeds (no fixed points by construction).
        var seen = Set<Int>()
        for s in 0..<200 { seen.insert(CounterRNG(seed: UInt64(s)).permutation(3)[0]) }
        XCTAssertEqual(seen, [0, 1, 2])
    }
}
