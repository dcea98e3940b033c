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
            XCTAssertTrue(error.file.hasSuffix(fileSuffix), "error names \(error.file), expected ...\(fileSuffix)", line: line)
            XCTAssertFalse(error.message.isEmpty, line: line)
        } catch {
            XCTFail("unexpected error type: \(error)", line: line)
        }
    }
}
