import Foundation
import Tensors
import TestSupport
import XCTest
@testable import TensorFiles

/// Loading releases each tensor's mapped pages (issue 17: a ViT-H checkpoint is never resident
/// twice): the values read again afterwards, from the file, are the same bits, for `.pth`
/// (including views that share a storage), safetensors, and hashing.
final class PageReleaseTests: TemporaryDirectoryTestCase {
    func testReleasedPagesReadBackTheSameBits() throws {
        let pth = try PthCheckpoint(contentsOf: Fixtures.url("pth_variants.pth"))
        for name in pth.names where [.f32, .f16, .bf16, .f64].contains(try pth.info(name).dtype) {
            let first = try pth.tensor(name), again = try pth.tensor(name)     // the second after the release
            XCTAssertEqual(first.shape, again.shape, name)
            XCTAssertEqual(first.data.map(\.bitPattern), again.data.map(\.bitPattern), name)
        }
        let url = directory.appendingPathComponent("big.safetensors")
        let values = CounterRNG(seed: 3).normals(3 * 4096)        // several pages per tensor
        try SafeTensorsFile.write([("a", Tensor(shape: [4096], data: Array(values[0..<4096]))),
                                   ("b", Tensor(shape: [2, 4096], data: Array(values[4096...])))], to: url)
        let file = try SafeTensorsFile(contentsOf: url)
        for name in ["a", "b", "a"] {
            let expected: [Float] = name == "a" ? Array(values[0..<4096]) : Array(values[4096...])
            XCTAssertEqual(try file.tensor(name).data.map(\.bitPattern), expected.map(\.bitPattern), name)
        }
        let mapped = try MappedFile(url: url)
        let before = Array(mapped.bytes)
        mapped.releasePages(0 ..< mapped.count)
        XCTAssertEqual(Array(mapped.bytes), before, "the mapping reads the file again")
        mapped.releasePages(5 ..< 5)            // an empty range is ignored
        let digest = SHA256.hexString(before.withUnsafeBytes { SHA256.digest($0) })
        XCTAssertEqual(try SHA256.hexDigest(ofFile: url), digest)
    }
}
