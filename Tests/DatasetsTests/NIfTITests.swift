import Foundation
import Tensors
import XCTest
@testable import Datasets

final class NIfTITests: TemporaryDirectoryTestCase {
    /// Values exactly representable in `datatype` (and in Float32), covering the type's extremes.
    private func sampleValues(_ datatype: NIfTIDatatype, count: Int) -> [Float] {
        let rng = CounterRNG(seed: UInt64(datatype.rawValue))
        return (0..<count).map { i in
            let u = rng.uniform(UInt64(i))
            switch datatype {
            case .uint8: return i == 0 ? 255 : Float(Int(u * 256))
            case .int8: return i == 0 ? -128 : i == 1 ? 127 : Float(Int(u * 256) - 128)
            case .uint16: return i == 0 ? 65535 : Float(Int(u * 65536))
            case .uint32: return i == 0 ? 16_777_216 : Float(Int(u * 4_000_000))
            case .int64: return i == 0 ? -16_777_216 : Float(Int(u * 4_000_000) - 2_000_000)
            case .uint64: return i == 0 ? 16_777_216 : Float(Int(u * 4_000_000))
            case .int16: return i == 0 ? -32768 : i == 1 ? 32767 : Float(Int(u * 65536) - 32768)
            case .int32: return i == 0 ? -16_777_216 : Float(Int(u * 4_000_000) - 2_000_000)
            case .float32: return i == 0 ? -Float.greatestFiniteMagnitude : (u - 0.5) * 1e5
            case .float64: return i == 0 ? Float.leastNonzeroMagnitude : (u - 0.5) * 3e-3
            }
        }
    }

    func testRoundTripEveryDatatypeByteOrderAndCompression() throws {
        let shape = [5, 3, 2]
        for datatype in NIfTIDatatype.allCases {
            for order in [ByteOrder.little, .big] {
                for name in ["v.nii", "v.nii.gz"] {
                    let header = NIfTIHeader(shape: shape, spacing: [1.5, 1.25, 10], datatype: datatype)
                    let image = NIfTIImage(header: header, data: sampleValues(datatype, count: 30))
                    let url = tmp.appendingPathComponent("\(datatype)-\(order)-\(name)")
                    try image.write(to: url, byteOrder: order)
                    let back = try NIfTIImage(contentsOf: url)
                    XCTAssertEqual(back.header, image.header, "\(datatype) \(order) \(name)")
                    XCTAssertEqual(back.data, image.data, "\(datatype) \(order) \(name)")
                }
            }
        }
    }

    func testBigEndianFileReallyIsBigEndian() throws {
        let image = NIfTIImage(header: NIfTIHeader(shape: [2, 1, 1], spacing: [1, 1, 1], datatype: .int16),
                               data: [1, -2])
        let bytes = try image.encoded(byteOrder: .big)
        XCTAssertEqual(Array(bytes[0..<4]), [0, 0, 1, 0x5c])          // 348
        XCTAssertEqual(Array(bytes[352..<356]), [0, 1, 0xff, 0xfe])   // 1, -2
    }

    /// A written .nii.gz comes back with the same header (geometry, scaling, text), affine and values.
    func testGzipHeaderAffineAndValuesRoundTrip() throws {
        var header = NIfTIHeader(shape: [4, 3, 2], spacing: [1.5625, 1.5625, 10], datatype: .int16)
        header.qformCode = 1
        header.sformCode = 1
        header.pixdim[0] = -1
        header.quatern = [0, 0.70710677, 0]
        header.qoffset = [-120.5, 88.25, 12]
        header.srow = [[-1.5, 0.1, 0, -120.5], [0.05, 1.5, 0.2, 88.25], [0, 0, 10, 12]]
        header.sclSlope = 0.5
        header.sclInter = -3
        header.descrip = "round trip"
        header.auxFile = "aux"
        header.intentName = "labels"
        header.xyztUnits = 10
        let values = (0..<24).map { Float($0 * 7 - 60) * 0.5 - 3 }
        let image = NIfTIImage(header: header, data: values)
        let url = tmp.appendingPathComponent("geometry.nii.gz")
        try image.write(to: url)
        let back = try NIfTIImage(contentsOf: url)
        XCTAssertEqual(back.header, header)
        XCTAssertEqual(back.header.affine, header.affine)
        XCTAssertEqual(back.data, values)

        // The qform alone gives the rotation by the quaternion (90 degrees about y), qfac -1 flips z.
        XCTAssertEqual(back.header.sformCode, 1)
        var qformOnly = back.header
        qformOnly.sformCode = 0
        let a = qformOnly.affine
        let expected: [[Double]] = [[0, 0, -10, -120.5], [0, 1.5625, 0, 88.25], [-1.5625, 0, 0, 12], [0, 0, 0, 1]]
        for r in 0..<4 {
            for c in 0..<4 { XCTAssertEqual(a[r][c], expected[r][c], accuracy: 1e-5, "affine[\(r)][\(c)]") }
        }
    }

    func testPredictionCarriesInputGeometry() throws {
        var header = NIfTIHeader(shape: [3, 2, 2], spacing: [1.4, 1.4, 8], datatype: .float32)
        header.srow[0][3] = 42
        header.sclSlope = 2
        let input = NIfTIImage(header: header, data: [Float](repeating: 1.5, count: 12))
        let prediction = input.replacingData((0..<12).map { Float($0 % 4) }, datatype: .uint8)
        let url = tmp.appendingPathComponent("pred.nii.gz")
        try prediction.write(to: url)
        let back = try NIfTIImage(contentsOf: url)
        XCTAssertEqual(back.header.affine, input.header.affine)
        XCTAssertEqual(back.header.spacing, input.header.spacing)
        XCTAssertEqual(back.header.datatype, .uint8)
        XCTAssertEqual(back.data, prediction.data)
    }

    func testWritingValuesThatDoNotFitIsRejected() {
        let image = NIfTIImage(header: NIfTIHeader(shape: [2], spacing: [1], datatype: .uint8), data: [3, 256])
        assertDatasetError(.unsupported, file: "big.nii") { try image.write(to: tmp.appendingPathComponent("big.nii")) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp.appendingPathComponent("big.nii").path))
    }

    // MARK: bad input

    private func validBytes() throws -> [UInt8] {
        let image = NIfTIImage(header: NIfTIHeader(shape: [4, 4, 2], spacing: [1, 1, 1], datatype: .float32),
                               data: (0..<32).map(Float.init))
        return try image.encoded()
    }

    private func read(_ bytes: [UInt8], _ name: String) throws {
        let url = tmp.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        _ = try NIfTIImage(contentsOf: url)
    }

    func testTruncatedFilesAreRejected() throws {
        let bytes = try validBytes()
        assertDatasetError(.truncated, file: "header.nii") { try read(Array(bytes.prefix(200)), "header.nii") }
        assertDatasetError(.truncated, file: "data.nii") { try read(Array(bytes.dropLast(5)), "data.nii") }
        let gz = [UInt8](try Gzip.compress(bytes, level: 6, file: "x"))
        assertDatasetError(.truncated, file: "short.nii.gz") {
            try read(Array(gz.prefix(gz.count / 2)), "short.nii.gz")
        }
    }

    func testCorruptFilesAreRejected() throws {
        let bytes = try validBytes()
        var gz = [UInt8](try Gzip.compress(bytes, level: 6, file: "x"))
        for i in 12..<min(40, gz.count - 8) { gz[i] ^= 0x5a }
        assertDatasetError(.corrupt, file: "flipped.nii.gz") { try read(gz, "flipped.nii.gz") }

        var magic = bytes
        magic[344] = UInt8(ascii: "x")
        assertDatasetError(.corrupt, file: "magic.nii") { try read(magic, "magic.nii") }
        var pair = bytes
        pair[345] = UInt8(ascii: "i")
        assertDatasetError(.unsupported, file: "pair.nii") { try read(pair, "pair.nii") }
        var size = bytes
        size[0] = 99
        assertDatasetError(.corrupt, file: "size.nii") { try read(size, "size.nii") }
        var dims = bytes
        dims[40] = 0
        assertDatasetError(.corrupt, file: "dims.nii") { try read(dims, "dims.nii") }
        var negative = bytes
        negative[43] = 0xff   // dim[1] = -something
        assertDatasetError(.corrupt, file: "negative.nii") { try read(negative, "negative.nii") }
        var bitpix = bytes
        bitpix[72] = 8
        assertDatasetError(.corrupt, file: "bitpix.nii") { try read(bitpix, "bitpix.nii") }
    }

    func testUnsupportedDatatypeIsNamed() throws {
        var bytes = try validBytes()
        bytes[70] = 0x20
        bytes[71] = 0x00   // 32 = complex64
        do {
            try read(bytes, "c64.nii")
            XCTFail("complex64 accepted")
        } catch let error as DatasetError {
            XCTAssertEqual(error.kind, .unsupported)
            XCTAssertTrue(error.message.contains("complex64"), error.message)
        }
    }
}
