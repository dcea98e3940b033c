import Foundation
import XCTest
@testable import TensorFiles

final class ZipArchiveTests: TemporaryDirectoryTestCase {
    let entries = [TestZip.Entry(name: "p/a", data: Array("hello".utf8)), TestZip.Entry(name: "p/b", data: []),
                   TestZip.Entry(name: "p/c", data: [UInt8](repeating: 7, count: 300))]

    func testStoredEntriesWithCommentLocalPaddingAndZip64() throws {
        for zip64 in [false, true] {
            let bytes = TestZip.build(entries, zip64: zip64, localExtra: 13,
                                      comment: "PK\u{5}\u{6} a comment with a fake signature")
            let zip = try ZipArchive(path: write(bytes, "a.zip").path)
            XCTAssertEqual(zip.entries.map(\.name), entries.map(\.name))
            for e in entries {
                XCTAssertEqual(Array(try zip.contents(of: e.name)), e.data, "\(e.name) zip64=\(zip64)")
            }
            XCTAssertEqual(zip.entry("p/a")?.dataOffset, 30 + 3 + 13, "data starts after the local name and extra")
            assertFails(["ZIP entry 'p/zz' is missing"]) { try zip.contents(of: "p/zz") }
        }
    }

    func testStructuralDamage() throws {
        var bytes = TestZip.build(entries)
        let eocd = bytes.count - 22
        var count = bytes
        count[eocd + 10] = 200; count[eocd + 8] = 200
        assertFails(["ZIP claims 200 entries but its", "central directory can hold at most 3"]) {
            try ZipArchive(path: write(count, "count.zip").path)
        }
        var disk = bytes
        disk[eocd + 4] = 1
        assertFails(["multi-disk ZIP archives are not supported"]) {
            try ZipArchive(path: write(disk, "disk.zip").path)
        }
        var saturated = bytes
        for i in 16..<20 { saturated[eocd + i] = 0xFF }
        assertFails(["saturated fields but no Zip64 end-of-central-directory locator"]) {
            try ZipArchive(path: write(saturated, "z64.zip").path)
        }
        let duplicate = TestZip.build([entries[0], entries[0]])
        assertFails(["ZIP entry 'p/a' appears twice"]) { try ZipArchive(path: write(duplicate, "dup.zip").path) }
        let directory = Int(bytes[eocd + 16]) | Int(bytes[eocd + 17]) << 8
        bytes[directory] = 0
        assertFails(["ZIP central directory entry 0 at byte \(directory) is damaged"]) {
            try ZipArchive(path: write(bytes, "sig.zip").path)
        }
    }

    func testDirectoryIsRejected() throws {
        assertFails(["not a regular file"]) { try ZipArchive(path: directory.path) }
    }
}
