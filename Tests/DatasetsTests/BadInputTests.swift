import Foundation
import XCTest
@testable import Datasets

/// Every kind of unusable input gives a `DatasetError` naming the offending file and the problem.
final class BadInputTests: TemporaryDirectoryTestCase {
    private func load(_ folder: String, classes: Int = 4) throws {
        _ = try DatasetIndex.scan(tmp.appendingPathComponent(folder)).load(classes: classes)
    }

    func testImageLabelShapeMismatch() throws {
        try writeVolume("a/imagesTr/c1.nii.gz")
        try writeVolume("a/labelsTr/c1.nii.gz", shape: [6, 5, 2], datatype: .uint8)
        assertDatasetError(.shapeMismatch, file: "labelsTr/c1.nii.gz") { try load("a") }
    }

    func testImageLabelSpacingMismatch() throws {
        try writeVolume("a/imagesTr/c1.nii.gz")
        try writeVolume("a/labelsTr/c1.nii.gz", spacing: [1.5, 1.25, 10], datatype: .uint8)
        assertDatasetError(.spacingMismatch, file: "labelsTr/c1.nii.gz") { try load("a") }
    }

    func testLabelValuesOutsideTheClasses() throws {
        try writeVolume("a/imagesTr/c1.nii.gz", shape: [2, 2, 1])
        try writeVolume("a/labelsTr/c1.nii.gz", shape: [2, 2, 1], values: [0, 1, 4, 2], datatype: .uint8)
        assertDatasetError(.labelOutOfRange, file: "labelsTr/c1.nii.gz") { try load("a") }
        XCTAssertNoThrow(try load("a", classes: 5))
        try writeVolume("b/imagesTr/c1.nii.gz", shape: [2, 2, 1])
        try writeVolume("b/labelsTr/c1.nii.gz", shape: [2, 2, 1], values: [0, 1.5, 1, 2], datatype: .float32)
        assertDatasetError(.labelOutOfRange, file: "labelsTr/c1.nii.gz") { try load("b") }
        try writeVolume("c/imagesTr/c1.nii.gz", shape: [2, 2, 1])
        try writeVolume("c/labelsTr/c1.nii.gz", shape: [2, 2, 1], values: [0, -1, 1, 2], datatype: .int16)
        assertDatasetError(.labelOutOfRange, file: "labelsTr/c1.nii.gz") { try load("c") }
    }

    func testPNGLabelOutsideTheClasses() throws {
        try writePNGVolume("p", name: "case_frame01", labels: [[0, 1, 2, 7]])
        assertDatasetError(.labelOutOfRange, file: "annotations/case_frame01/s_000.png") { try load("p") }
    }

    func testNaNAndInfVoxels() throws {
        for (folder, bad) in [("nan", Float.nan), ("inf", -Float.infinity)] {
            try writeVolume("\(folder)/imagesTr/c1.nii.gz", shape: [2, 2, 1], values: [0, 1, bad, 2],
                            datatype: .float32)
            try writeVolume("\(folder)/labelsTr/c1.nii.gz", shape: [2, 2, 1], values: [0, 0, 0, 0], datatype: .uint8)
            assertDatasetError(.nonFinite, file: "imagesTr/c1.nii.gz") { try load(folder) }
        }
    }

    func testMissingLabelFiles() throws {
        try writeACDCPatient("patient001")
        let label = tmp.appendingPathComponent("acdc/patient001/patient001_frame05_gt.nii.gz")
        try FileManager.default.removeItem(at: label)
        assertDatasetError(.missingFile, file: "patient001/patient001_frame05_gt.nii.gz") { try load("acdc") }
        XCTAssertEqual(try DatasetIndex.scan(tmp.appendingPathComponent("acdc"), requireLabels: false).volumes.count, 2)

        try writeVolume("msd/imagesTr/c7_0000.nii.gz")
        assertDatasetError(.missingFile, file: "msd/labelsTr/c7.nii.gz") { try load("msd") }

        try writePNGVolume("p", name: "case_frame01", labels: [[0, 1, 2, 3]])
        try FileManager.default.removeItem(at: tmp.appendingPathComponent("p/annotations/case_frame01/s_000.png"))
        assertDatasetError(.missingFile, file: "annotations/case_frame01/s_000.png") { try load("p") }
    }

    func testInfoCfgNamingAMissingFrame() throws {
        try writeACDCPatient("patient001")
        try "ED: 1\nES: 9\n".write(to: tmp.appendingPathComponent("acdc/patient001/Info.cfg"), atomically: true,
                                   encoding: .utf8)
        assertDatasetError(.missingFile, file: "patient001/patient001_frame09.nii.gz") { try load("acdc") }
    }

    func testEmptyFolders() throws {
        try FileManager.default.createDirectory(at: tmp.appendingPathComponent("empty"),
                                                withIntermediateDirectories: true)
        assertDatasetError(.emptyFolder, file: "empty") { try load("empty") }
        try writeACDCPatient("patient001")
        try FileManager.default.createDirectory(at: tmp.appendingPathComponent("acdc/patient002"),
                                                withIntermediateDirectories: true)
        assertDatasetError(.emptyFolder, file: "acdc/patient002") { try load("acdc") }
        try FileManager.default.createDirectory(at: tmp.appendingPathComponent("msd/imagesTr"),
                                                withIntermediateDirectories: true)
        assertDatasetError(.emptyFolder, file: "msd/imagesTr") { try load("msd") }
        try FileManager.default.createDirectory(at: tmp.appendingPathComponent("p/imgs/case_frame01"),
                                                withIntermediateDirectories: true)
        assertDatasetError(.emptyFolder, file: "p/imgs/case_frame01") { try load("p") }
        assertDatasetError(.missingFile, file: "nowhere") { try load("nowhere") }
    }

    func testTruncatedAndCorruptFilesInsideADataset() throws {
        try writeACDCPatient("patient001")
        let url = tmp.appendingPathComponent("acdc/patient001/patient001_frame01.nii.gz")
        let bytes = try Data(contentsOf: url)
        try bytes.prefix(bytes.count - 10).write(to: url)
        assertDatasetError(.truncated, file: "patient001_frame01.nii.gz") { try load("acdc") }
        try writePNGVolume("p", name: "case_frame01", labels: [[0, 1, 2, 3]])
        try Data("not a png".utf8).write(to: tmp.appendingPathComponent("p/imgs/case_frame01/s_000.png"))
        assertDatasetError(.corrupt, file: "imgs/case_frame01/s_000.png") { try load("p") }
    }

    func testPNGSlicesOfDifferentSizes() throws {
        try writePNGVolume("p", name: "case_frame01", labels: [[0, 1, 2, 3], [0, 0, 0, 0]])
        try PNGImage(width: 3, height: 1, kind: .grey, samples: [1, 2, 3])
            .write(to: tmp.appendingPathComponent("p/imgs/case_frame01/s_001.png"))
        assertDatasetError(.shapeMismatch, file: "imgs/case_frame01/s_001.png") { try load("p") }
    }

    func testFourDimensionalVolumeIsRejected() throws {
        try writeVolume("a/imagesTr/c1.nii.gz", shape: [2, 2, 2, 3], spacing: [1, 1, 1, 1])
        try writeVolume("a/labelsTr/c1.nii.gz", shape: [2, 2, 2, 3], spacing: [1, 1, 1, 1], datatype: .uint8)
        assertDatasetError(.unsupported, file: "imagesTr/c1.nii.gz") { try load("a") }
    }

    func testZeroSpacingIsRejected() throws {
        try writeVolume("a/imagesTr/c1.nii.gz", spacing: [0, 1.5, 10])
        try writeVolume("a/labelsTr/c1.nii.gz", spacing: [0, 1.5, 10], datatype: .uint8)
        assertDatasetError(.corrupt, file: "imagesTr/c1.nii.gz") { try load("a") }
    }

    /// A reference-layout volume of 2 x 2 slices `s_NNN.png` with the given label rows.
    private func writePNGVolume(_ root: String, name: String, labels: [[UInt16]]) throws {
        for (z, slice) in labels.enumerated() {
            let file = String(format: "s_%03d.png", z)
            for (folder, image) in [("imgs", PNGImage(width: 2, height: 2, kind: .rgb,
                                                      samples: slice.flatMap { [$0 * 9, $0 * 9, $0 * 9] })),
                                    ("annotations", PNGImage(width: 2, height: 2, kind: .grey, samples: slice))] {
                let url = tmp.appendingPathComponent("\(root)/\(folder)/\(name)/\(file)")
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(),
                                                        withIntermediateDirectories: true)
                try image.write(to: url)
            }
        }
    }

    func testMessagesNameTheFileAndTheKindInWords() {
        XCTAssertEqual(DatasetError(file: "/d/p1.nii.gz", .missingFile, "label volume not found").description,
                       "/d/p1.nii.gz: missing file: label volume not found")
        XCTAssertEqual(DatasetError(file: "a.png", .labelOutOfRange, "value 7").description,
                       "a.png: label out of range: value 7")
        XCTAssertEqual(DatasetError(file: "b", .truncated, "ends at 10").description, "b: truncated: ends at 10")
    }
}
