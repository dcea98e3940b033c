import Foundation
import XCTest
@testable import Datasets

/// NIfTI-1 files as other tools write them (nibabel's `Nifti1Image.to_filename` layout: a
/// 348-byte header, 4 zero extension bytes, voxels at offset 352), built byte by byte here
/// rather than with our writer: every integer datatype, scaled (scl_slope, scl_inter), in both
/// byte orders, read into the expected values; and uint16 / int8 label maps loaded as labels.
final class NIfTIForeignFileTests: TemporaryDirectoryTestCase {
    /// The file bytes of a 2 x 2 x 2 image of `datatype` (code, bytes per voxel) holding `raw`
    /// (already encoded little-endian), with scaling, optionally byte-swapped everything.
    private func file(code: Int16, width: Int, raw: [UInt8], slope: Float = 1, inter: Float = 0,
                      bigEndian: Bool = false) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: 352)
        func put<T: FixedWidthInteger>(_ v: T, at offset: Int) {
            withUnsafeBytes(of: bigEndian ? v.bigEndian : v.littleEndian) {
                h.replaceSubrange(offset..<offset + $0.count, with: $0)
            }
        }
        func putFloat(_ v: Float, at offset: Int) { put(v.bitPattern, at: offset) }
        put(Int32(348), at: 0)
        for (i, d) in [3, 2, 2, 2, 1, 1, 1, 1].enumerated() { put(Int16(d), at: 40 + 2 * i) }
        put(code, at: 70)
        put(Int16(8 * width), at: 72)
        for (i, p) in [1, 1.5, 1.5, 8, 0, 0, 0, 0].enumerated() { putFloat(Float(p), at: 76 + 4 * i) }
        putFloat(352, at: 108)
        putFloat(slope, at: 112)
        putFloat(inter, at: 116)
        put(Int16(1), at: 254)                        // sform_code: scanner
        for (i, v) in [1.0, 0, 0, 0, 0, 1.5, 0, 0, 0, 0, 8, 0].enumerated() { putFloat(Float(v), at: 280 + 4 * i) }
        h.replaceSubrange(344..<348, with: Array("n+1".utf8) + [0])
        var voxels = raw
        if bigEndian && width > 1 {
            for start in stride(from: 0, to: voxels.count, by: width) { voxels[start..<start + width].reverse() }
        }
        return h + voxels
    }

    private func littleEndian<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
        values.flatMap { v in withUnsafeBytes(of: v.littleEndian) { Array($0) } }
    }

    private func read(_ bytes: [UInt8], _ name: String) throws -> NIfTIImage {
        let url = tmp.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return try NIfTIImage(contentsOf: url)
    }

    func testEveryIntegerDatatypeWithScalingInBothByteOrders() throws {
        let cases: [(String, Int16, Int, [UInt8], [Double])] = [
            ("int8", 256, 1, littleEndian([Int8.min, -1, 0, 1, 2, 3, 100, Int8.max]), [-128, -1, 0, 1, 2, 3, 100, 127]),
            ("uint16", 512, 2, littleEndian([UInt16(0), 1, 2, 300, 4095, 40000, 65534, UInt16.max]),
             [0, 1, 2, 300, 4095, 40000, 65534, 65535]),
            ("uint32", 768, 4, littleEndian([UInt32(0), 1, 7, 65536, 1 << 20, 1 << 24, 3, 9]),
             [0, 1, 7, 65536, 1_048_576, 16_777_216, 3, 9]),
            ("int32", 8, 4, littleEndian([Int32(-5), 1, 7, -65536, 1 << 20, -(1 << 24), 3, 9]),
             [-5, 1, 7, -65536, 1_048_576, -16_777_216, 3, 9]),
            ("int64", 1024, 8, littleEndian([Int64(-5), 1, 7, -65536, 1 << 20, -(1 << 24), 3, 9]),
             [-5, 1, 7, -65536, 1_048_576, -16_777_216, 3, 9]),
            ("uint64", 1280, 8, littleEndian([UInt64(0), 1, 7, 65536, 1 << 20, 1 << 24, 3, 9]),
             [0, 1, 7, 65536, 1_048_576, 16_777_216, 3, 9]),
        ]
        for (name, code, width, raw, values) in cases {
            for bigEndian in [false, true] {
                let plain = try read(file(code: code, width: width, raw: raw, bigEndian: bigEndian),
                                     "\(name)-\(bigEndian).nii")
                XCTAssertEqual(plain.header.datatype.rawValue, code, name)
                XCTAssertEqual(plain.data, values.map(Float.init), "\(name) big-endian \(bigEndian)")
                let scaled = try read(file(code: code, width: width, raw: raw, slope: 0.5, inter: -3,
                                           bigEndian: bigEndian),
                                      "\(name)-scaled-\(bigEndian).nii")
                XCTAssertEqual(scaled.data, values.map { Float($0 * 0.5 - 3) },
                               "\(name) scaled, big-endian \(bigEndian)")
            }
        }
    }

    /// A uint16 MRI volume with an int8 label map (other tools' usual choices) loads as a
    /// labelled volume; a label value outside the classes is still refused by name.
    func testUInt16ImageWithInt8LabelsLoads() throws {
        let folder = tmp.appendingPathComponent("foreign")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let image = file(code: 512, width: 2, raw: littleEndian([UInt16(10), 200, 3000, 4000, 50, 60, 70, 65535]))
        let labels = file(code: 256, width: 1, raw: littleEndian([Int8(0), 1, 2, 3, 0, 0, 1, 1]))
        let imageURL = folder.appendingPathComponent("img.nii"), labelURL = folder.appendingPathComponent("seg.nii")
        try Data(image).write(to: imageURL)
        try Data(labels).write(to: labelURL)
        let source = VolumeSource(patient: "p1", name: "p1_frame01", phase: nil,
                                  storage: .nifti(image: imageURL, label: labelURL))
        let volume = try VolumeLoader.load(source, classes: 4, normalise: false)
        XCTAssertEqual(volume.labels, [0, 1, 2, 3, 0, 0, 1, 1])
        XCTAssertEqual(volume.image.last, 65535)
        XCTAssertThrowsError(try VolumeLoader.load(source, classes: 3, normalise: false),
                             "label 3 with 3 classes") { error in
            XCTAssertTrue("\(error)".contains("seg.nii"), "\(error)")
        }
    }
}
