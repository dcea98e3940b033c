import Foundation
import XCTest
@testable import Datasets

/// A fresh temporary directory per test, removed afterwards.
class TemporaryDirectoryTestCase: XCTestCase {
    var tmp: URL!

    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("autosam-datasets-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: tmp)
    }

    /// Asserts that `body` throws a `DatasetError` of `kind` whose file ends with `fileSuffix`.
    func assertDatasetError(_ kind: DatasetError.Kind, file fileSuffix: String, _ body: () throws -> Void,
                            line: UInt = #line) {
        do {
            try body()
            XCTFail("expected a \(kind) error for \(fileSuffix)", line: line)
        } catch let error as DatasetError {
            XCTAssertEqual(error.kind, kind, "\(error)", line: line)
            XCTAssertTrue(error.file.hasSuffix(fileSuffix), "error names \(error.file), expected ...\(fileSuffix)",
                          line: line)
            XCTAssertFalse(error.message.isEmpty, line: line)
        } catch {
            XCTFail("unexpected error type: \(error)", line: line)
        }
    }
}

extension TemporaryDirectoryTestCase {
    /// Writes a NIfTI volume (creating folders); values default to a ramp (labels: 0...3 pattern).
    @discardableResult
    func writeVolume(_ path: String, shape: [Int] = [6, 5, 3], spacing: [Double] = [1.5, 1.5, 10],
                     values: [Float]? = nil, datatype: NIfTIDatatype = .int16) throws -> URL {
        let url = tmp.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let count = shape.reduce(1, *)
        let data = values ?? (0..<count).map { Float(datatype == .uint8 ? $0 % 4 : $0 * 3 - 20) }
        let header = NIfTIHeader(shape: shape, spacing: spacing, datatype: datatype)
        try NIfTIImage(header: header, data: data).write(to: url)
        return url
    }

    /// An ACDC patient folder with frames 1 and 5 and their labels.
    func writeACDCPatient(_ id: String, root: String = "acdc", info: Bool = true) throws {
        for frame in ["01", "05"] {
            try writeVolume("\(root)/\(id)/\(id)_frame\(frame).nii.gz")
            try writeVolume("\(root)/\(id)/\(id)_frame\(frame)_gt.nii.gz", datatype: .uint8)
        }
        if info {
            try "ED: 1\nES: 5\nGroup: NOR\nHeight: 180.0\nNbFrame: 20\nWeight: 80.0\n"
                .write(to: tmp.appendingPathComponent("\(root)/\(id)/Info.cfg"), atomically: true, encoding: .utf8)
        }
    }
}
