import Foundation
import XCTest
import TestSupport

/// `AUTOSAM_FIXTURES_DIR` swaps in another fixture folder; an unusable one fails with its path named.
final class FixturesDirectoryTests: TemporaryDirectoryTestCase {
    private var previous: String?

    override func setUpWithError() throws {
        try super.setUpWithError()
        previous = ProcessInfo.processInfo.environment[Fixtures.directoryVariable]
    }

    override func tearDownWithError() throws {
        if let previous {
            setenv(Fixtures.directoryVariable, previous, 1)
        } else {
            unsetenv(Fixtures.directoryVariable)
        }
        try super.tearDownWithError()
    }

    private func setOverride(_ value: String) { setenv(Fixtures.directoryVariable, value, 1) }

    func testOverrideFolderIsUsed() throws {
        let current = Fixtures.directory
        setOverride(current.path)
        XCTAssertEqual(Fixtures.directory.standardizedFileURL.path, current.standardizedFileURL.path)
        XCTAssertNoThrow(try Fixtures.file("get_box"))
        XCTAssertNoThrow(try Fixtures.readManifest())
        setOverride("")
        XCTAssertEqual(Fixtures.directory.lastPathComponent, "Fixtures", "an empty value means the bundled fixtures")
    }

    func testMissingFolderIsNamed() {
        let missing = directory.appendingPathComponent("absent").path
        setOverride(missing)
        let loads: [(String, () throws -> Void)] = [("file", { _ = try Fixtures.file("get_box") }),
                                                    ("manifest", { _ = try Fixtures.readManifest() })]
        for (what, load) in loads {
            XCTAssertThrowsError(try load(), what) { error in
                XCTAssertTrue("\(error)".contains(missing) && "\(error)".contains(Fixtures.directoryVariable),
                              "\(error)")
            }
        }
    }

    func testFolderWithoutManifestIsNamed() {
        setOverride(directory.path)
        XCTAssertThrowsError(try Fixtures.readManifest()) { error in
            XCTAssertTrue("\(error)".contains(self.directory.appendingPathComponent("manifest.json").path), "\(error)")
        }
    }
}
