import Foundation
import XCTest
import TestSupport
@testable import TensorFiles

final class SHA256Tests: XCTestCase {
    func hexDigest(_ text: String) -> String {
        SHA256.hexString(Array(text.utf8).withUnsafeBytes { SHA256.digest($0) })
    }

    /// FIPS 180-4 example vectors (one block, empty, two blocks, 896 bits).
    func testKnownVectors() {
        XCTAssertEqual(hexDigest(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(hexDigest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(hexDigest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(hexDigest("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
                                 + "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"),
                       "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1")
    }

    /// Feeding the same bytes in uneven chunks gives the one-shot digest, for lengths around the
    /// 55/56/64-byte padding boundaries.
    func testStreamingChunksMatchOneShot() {
        for length in [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 200] {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            let oneShot = bytes.withUnsafeBytes { SHA256.digest($0) }
            for chunk in [1, 3, 63, 64, 65] {
                var h = SHA256()
                var start = 0
                while start < length {
                    let end = min(length, start + chunk)
                    bytes[start..<end].withUnsafeBytes { h.update($0) }
                    start = end
                }
                XCTAssertEqual(h.finalize(), oneShot, "length \(length) chunk \(chunk)")
            }
        }
    }

    func testFileDigestMatchesManifest() throws {
        let files = Fixtures.manifest["files"] as! [String: Any]
        let expected = (files["tiny_sam.pth"] as! [String: Any])["sha256"] as! String
        XCTAssertEqual(try SHA256.hexDigest(ofFile: Fixtures.url("tiny_sam.pth")), expected)
    }
}
