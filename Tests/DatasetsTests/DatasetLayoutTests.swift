import Foundation
import XCTest
@testable import Datasets

final class DatasetLayoutTests: TemporaryDirectoryTestCase {
    func testACDCLayoutWithInfoCfg() throws {
        try writeACDCPatient("patient002")
        try writeACDCPatient("patient001")
        try writeVolume("acdc/patient001/patient001_4d.nii.gz", shape: [6, 5, 3, 2],
                        spacing: [1.5, 1.5, 10, 1])   // not a frame
        let index = try DatasetIndex.scan(tmp.appendingPathComponent("acdc"))
        XCTAssertEqual(index.layout, .acdc)
        XCTAssertEqual(index.patients, ["patient001", "patient002"])
        XCTAssertEqual(index.volumes.map(\.name),
                       ["patient001_frame01", "patient001_frame05", "patient002_frame01", "patient002_frame05"])
        XCTAssertEqual(index.volumes.map(\.phase), ["ED", "ES", "ED", "ES"])
        let volumes = try index.load(patients: ["patient002"])
        XCTAssertEqual(volumes.count, 2)
        let v = volumes[0]
        XCTAssertEqual([v.depth, v.height, v.width], [3, 5, 6])
        XCTAssertEqual(v.spacing, Spacing(row: 1.5, column: 1.5, slice: 10))
        XCTAssertEqual(v.labels, (0..<90).map { UInt8($0 % 4) })
        let mean = v.image.reduce(0, +) / 90, variance = v.image.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 90
        XCTAssertEqual(mean, 0, accuracy: 1e-5)
        XCTAssertEqual(variance, 1, accuracy: 1e-4)
    }

    func testMSDLayoutSkipsDotFilesAndStripsModalitySuffix() throws {
        try writeVolume("msd/imagesTr/heart_003_0000.nii.gz")
        try writeVolume("msd/labelsTr/heart_003.nii.gz", datatype: .uint8)
        try writeVolume("msd/imagesTr/patient004_frame01.nii")
        try writeVolume("msd/labelsTr/patient004_frame01.nii", datatype: .uint8)
        try Data([1, 2, 3]).write(to: tmp.appendingPathComponent("msd/imagesTr/._heart_009.nii.gz"))
        let index = try DatasetIndex.scan(tmp.appendingPathComponent("msd"))
        XCTAssertEqual(index.layout, .msd)
        XCTAssertEqual(index.volumes.map(\.name), ["heart_003", "patient004_frame01"])
        XCTAssertEqual(index.patients, ["heart_003", "patient004"])
        XCTAssertEqual(try index.load().count, 2)
    }

    func testReferencePNGLayoutRoundTripsLabels() throws {
        try writeACDCPatient("patient001")
        let original = try DatasetIndex.scan(tmp.appendingPathComponent("acdc")).load()
        let pngRoot = tmp.appendingPathComponent("png")
        try ReferencePNGExport.write(original, to: pngRoot)
        let slice = pngRoot.appendingPathComponent("imgs/patient001_frame05/patient001_frame05_002.png")
        XCTAssertTrue(FileManager.default.fileExists(atPath: slice.path))
        let index = try DatasetIndex.scan(pngRoot)
        XCTAssertEqual(index.layout, .png)
        XCTAssertEqual(index.patients, ["patient001"])
        let back = try index.load()
        XCTAssertEqual(back.map(\.name), original.map(\.name))
        for (a, b) in zip(back, original) {
            XCTAssertEqual(a.labels, b.labels)
            XCTAssertEqual([a.depth, a.height, a.width], [b.depth, b.height, b.width])
            // 8-bit quantisation of a ramp, re-normalised: close to the original z-scores.
            XCTAssertLessThan(zip(a.image, b.image).map { abs($0 - $1) }.max()!, 0.02)
        }
    }

    func testSliceSetRecordsAndViews() throws {
        try writeACDCPatient("patient001")
        try writeACDCPatient("patient002")
        let index = try DatasetIndex.scan(tmp.appendingPathComponent("acdc"))
        let set = try SliceSet(index: index, patients: ["patient002", "patient001"])
        XCTAssertEqual(set.count, 12)
        let r = set.slices[7]
        XCTAssertEqual(r.id, 7)
        XCTAssertEqual(r.volume, "patient002_frame01")
        XCTAssertEqual(r.patient, "patient002")
        XCTAssertEqual([r.volumeIndex, r.index, r.sliceCount, r.height, r.width], [2, 1, 3, 5, 6])
        XCTAssertEqual(r.spacing.slice, 10)
        XCTAssertEqual(Array(set.image(7)), Array(set.volumes[2].image[30..<60]))
        XCTAssertEqual(set.labels(7).map(Array.init), Array(set.volumes[2].labels![30..<60]))
    }

    func testPredictionIsWrittenWithTheInputGeometry() throws {
        var header = NIfTIHeader(shape: [6, 5, 3], spacing: [1.4, 1.4, 8], datatype: .int16)
        header.srow = [[-1.4, 0, 0, 90], [0, 1.4, 0, -60], [0, 0, 8, 12]]
        let image = tmp.appendingPathComponent("msd/imagesTr/case_1.nii.gz")
        try FileManager.default.createDirectory(at: image.deletingLastPathComponent(),
                                                withIntermediateDirectories: true)
        try NIfTIImage(header: header, data: (0..<90).map(Float.init)).write(to: image)
        let volume = try DatasetIndex.scan(tmp.appendingPathComponent("msd"), requireLabels: false).load()[0]
        XCTAssertNil(volume.labels)
        let url = tmp.appendingPathComponent("case_1_pred.nii.gz")
        try volume.prediction((0..<90).map { UInt8($0 % 3) }).write(to: url)
        let back = try NIfTIImage(contentsOf: url)
        XCTAssertEqual(back.header.affine, header.affine)
        XCTAssertEqual(back.header.datatype, .uint8)
        XCTAssertEqual(back.data, (0..<90).map { Float($0 % 3) })
    }
}
