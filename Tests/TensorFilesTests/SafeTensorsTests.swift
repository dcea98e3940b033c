import Foundation
import XCTest
import Tensors
@testable import TensorFiles

final class SafeTensorsTests: TemporaryDirectoryTestCase {
    func testWriteReadRoundTrip() throws {
        let a = Tensor(shape: [2, 3], data: [1, -2, 3.5, 0, .pi, -1e-30])
        let scalar = Tensor(shape: [1], data: [42])
        let url = directory.appendingPathComponent("round.safetensors")
        try SafeTensorsFile.write([("b/a", a), ("scalar", scalar)], metadata: ["step": "7"], to: url)
        let file = try SafeTensorsFile(contentsOf: url)
        XCTAssertEqual(file.names, ["b/a", "scalar"])
        XCTAssertEqual(file.metadata, ["step": "7"])
        XCTAssertEqual(try file.tensor("b/a"), a)
        XCTAssertEqual(try file.tensor("scalar"), scalar)
        XCTAssertEqual(try file.info("b/a"), TensorInfo(name: "b/a", dtype: .f32, shape: [2, 3]))
        assertFails(["no tensor named 'missing'"]) { try file.tensor("missing") }

        let raw: [(name: String, dtype: DType, shape: [Int], bytes: Data)] = [
            ("i64", .i64, [3], Data(littleEndianBytes([Int64(-5), 1 << 40, 7]))),
            ("u8", .u8, [2, 2], Data([0, 255, 3, 4])),
            ("f16", .f16, [2], Data(littleEndianBytes([UInt16(0x3C00), UInt16(0xC000)]))),
            ("f64", .f64, [1], Data(littleEndianBytes([Double(0.1).bitPattern]))),
        ]
        let rawURL = directory.appendingPathComponent("raw.safetensors")
        try SafeTensorsFile.write(raw, to: rawURL)
        let archive = try TensorArchives.open(rawURL)
        XCTAssertTrue(archive is SafeTensorsFile)
        XCTAssertEqual(archive.names, raw.map(\.name))
        XCTAssertEqual(try archive.infos().map(\.dtype), raw.map(\.dtype))
        XCTAssertEqual(try archive.integers("i64"), [-5, 1 << 40, 7])
        XCTAssertEqual(try archive.integers("u8"), [0, 255, 3, 4])
        XCTAssertEqual(try archive.tensor("f16").data, [1, -2])
        XCTAssertEqual(try (archive as! SafeTensorsFile).doubles("f64"), [0.1])
        assertFails(["tensor 'f16' is F16, expected an integer dtype"]) { try archive.integers("f16") }
    }

    /// A header length of 640 starts with the bytes of a pickle's PROTO 2 (`80 02`).
    func testHeaderLengthThatLooksLikeAPickleIsStillSafetensors() throws {
        var header = Array("{\"t\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [0, 1]}}".utf8)
        header += [UInt8](repeating: 0x20, count: 640 - header.count)
        let url = try write(littleEndianBytes([UInt64(640)]) + header + [9], "pickle-like.safetensors")
        let archive = try TensorArchives.open(url)
        XCTAssertTrue(archive is SafeTensorsFile)
        XCTAssertEqual(try archive.integers("t"), [9])
    }

    /// A safetensors file from a header string and payload bytes.
    func file(header: String, payload: [UInt8] = []) throws -> SafeTensorsFile {
        var bytes: [UInt8] = []
        bytes.le(UInt64(header.utf8.count))
        return try SafeTensorsFile(bytes: Data(bytes + Array(header.utf8) + payload), path: "bad.safetensors")
    }

    func testCorruptHeaders() throws {
        assertFails(["bad.safetensors", "too short for a safetensors header (3 bytes)"]) {
            try SafeTensorsFile(bytes: Data([1, 2, 3]), path: "bad.safetensors")
        }
        assertFails(["header length 1000 exceeds file size 10"]) {
            try SafeTensorsFile(bytes: Data(littleEndianBytes([UInt64(1000)]) + [0x7B, 0x7D]), path: "bad.safetensors")
        }
        assertFails(["header is not a JSON object"]) { try file(header: "{\"a\": [1,") }
        assertFails(["header is not a JSON object"]) { try file(header: "[1, 2]") }
        let entry = { (dtype: String, shape: String, offsets: String) in
            "{\"t\": {\"dtype\": \"\(dtype)\", \"shape\": \(shape), \"data_offsets\": \(offsets)}}"
        }
        assertFails(["tensor 't': data_offsets [0, 16] are not [begin, end] inside the 8-byte payload"]) {
            try file(header: entry("F32", "[4]", "[0, 16]"), payload: [UInt8](repeating: 0, count: 8))
        }
        assertFails(["tensor 't': data_offsets [-4, 4] are not [begin, end] inside"]) {
            try file(header: entry("F32", "[2]", "[-4, 4]"), payload: [0, 0, 0, 0])
        }
        assertFails(["tensor 't': unsupported dtype F8_E4M3"]) {
            try file(header: entry("F8_E4M3", "[1]", "[0, 1]"), payload: [0])
        }
        assertFails(["tensor 't': shape (missing) is not a list of non-negative integers"]) {
            try file(header: "{\"t\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", payload: [0, 0, 0, 0])
        }
        assertFails(["tensor 't': shape [3] of F32 needs 12 bytes, data_offsets [0, 8] hold 8"]) {
            try file(header: entry("F32", "[3]", "[0, 8]"), payload: [UInt8](repeating: 0, count: 8))
        }
        assertFails(["tensor 't': shape [4611686018427387904, 4] of F32 overflows"]) {
            try file(header: entry("F32", "[4611686018427387904, 4]", "[0, 8]"),
                     payload: [UInt8](repeating: 0, count: 8))
        }
    }
}
