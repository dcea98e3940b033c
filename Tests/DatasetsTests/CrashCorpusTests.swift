import Foundation
import Tensors
import TestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif
@testable import Datasets

/// Inputs that once crashed the release binary (signal 4, or allocation failure), each rebuilt
/// in code and required to fail with a `DatasetError` naming the file and the field at fault.
final class DatasetCrashCorpusTests: TemporaryDirectoryTestCase {
    /// A valid 16 x 16 x 1 float32 image: its header claims 1 KiB of voxel data.
    private func smallImage() throws -> [UInt8] {
        try NIfTIImage(header: NIfTIHeader(shape: [16, 16, 1], spacing: [1, 1, 1], datatype: .float32),
                       data: (0..<256).map(Float.init)).encoded()
    }

    private func file(_ name: String, _ bytes: [UInt8]) throws -> URL {
        let url = tmp.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url
    }

    /// Asserts that `body(url)` throws a `DatasetError` of `kind` naming `url` and mentioning every fragment.
    private func assertRejected(_ kind: DatasetError.Kind, _ url: URL, mentioning fragments: [String],
                                line: UInt = #line, _ body: (URL) throws -> Void) {
        do {
            try body(url)
            XCTFail("\(url.lastPathComponent) was accepted", line: line)
        } catch let error as DatasetError {
            XCTAssertEqual(error.kind, kind, "\(error)", line: line)
            XCTAssertEqual(error.file, url.path, line: line)
            for fragment in fragments where !error.message.contains(fragment) {
                XCTFail("'\(error.message)' does not mention '\(fragment)'", line: line)
            }
        } catch {
            XCTFail("unexpected error type: \(error)", line: line)
        }
    }

    /// vox_offset = 1e30 trapped converting it to Int (`prepare`, `predict`, `evaluate`).
    func testVoxOffsetOf1e30() throws {
        var bytes = try smallImage()
        Mutator.store(UInt64(Float(1e30).bitPattern), FuzzField(name: "vox_offset", offset: 108, width: 4), &bytes)
        let gz = [UInt8](try Gzip.compress(bytes, level: 6, file: "x"))
        for url in [try file("offset.nii", bytes), try file("offset.nii.gz", gz)] {
            assertRejected(.corrupt, url, mentioning: ["vox_offset is 1e+30", "expected 352...2147483648"]) {
                _ = try NIfTIImage(contentsOf: $0)
            }
        }
    }

    /// A .nii.gz whose header claims 1 KiB of data but whose stream inflates 64 MiB of zeros
    /// (64 concatenated members): reading stops 1 MiB after the data's end, and peak RSS stays low.
    func testGzipBombStopsAfterWhatTheHeaderClaims() throws {
        let bomb = [UInt8](try Gzip.compress(try smallImage(), level: 6, file: "x"))
            + Array([[UInt8]](repeating: try DatasetFuzzTests.zeroMember(), count: 64).joined())
        let url = try file("bomb.nii.gz", bomb)
        let baseline = PeakMemory.reset()
        assertRejected(.corrupt, url, mentioning: ["inflates to more than \(1376 + NIfTIImage.trailingSlack) bytes",
                                                   "place the data's end at byte 1376"]) {
            _ = try NIfTIImage(contentsOf: $0)
        }
        let growth = PeakMemory.kib() - baseline
        XCTAssertLessThan(growth, 16 << 10, "reading a bomb raised peak RSS by \(growth) KiB")
    }

    /// The header claims more data than the stream delivers, or than the compressed size can hold.
    func testGzipClaimingMoreThanItDelivers() throws {
        let image = try smallImage()
        let short = try file("short.nii.gz", [UInt8](try Gzip.compress(Array(image.prefix(900)), level: 6, file: "x")))
        assertRejected(.truncated, short, mentioning: ["900 bytes", "needs 1376"]) {
            _ = try NIfTIImage(contentsOf: $0)
        }
        var huge = image
        for (i, size) in [512, 512, 512].enumerated() {   // 512^3 float32 voxels: 512 MiB from about 1 KB
            Mutator.store(UInt64(size), FuzzField(name: "dim", offset: 42 + 2 * i, width: 2), &huge)
        }
        let claim = try file("claim.nii.gz", [UInt8](try Gzip.compress(huge, level: 6, file: "x")))
        assertRejected(.corrupt, claim,
                       mentioning: ["place the data's end at byte \(352 + 512 * 512 * 512 * 4)", "1032:1"]) {
            _ = try NIfTIImage(contentsOf: $0)
        }
    }

    /// A 100-byte PNG claiming 16000 x 16000 RGBA took 3 GB and 11.5 s before failing.
    func testPNGClaiming16000x16000Pixels() throws {
        let bytes = HandmadePNG.file(width: 16000, height: 16000, bitDepth: 8, colorType: 6, rows: [[0, 0, 0, 0]])
        XCTAssertLessThan(bytes.count, 100)
        let url = try file("huge.png", bytes)
        let (baseline, start) = (PeakMemory.reset(), Date())
        assertRejected(.unsupported, url,
                       mentioning: ["IHDR width x height is 16000 x 16000", "at most \(PNGImage.maxPixels)"]) {
            _ = try PNGImage(contentsOf: $0)
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 1)
        XCTAssertLessThan(PeakMemory.kib() - baseline, 16 << 10, "peak RSS growth in KiB")
        let wide = try file("wide.png",
                            HandmadePNG.file(width: 70000, height: 1, bitDepth: 8, colorType: 0, rows: [[0]]))
        assertRejected(.unsupported, wide, mentioning: ["70000 x 1", "expected 1...16384"]) {
            _ = try PNGImage(contentsOf: $0)
        }
        let implausible = try file("implausible.png",
                                   HandmadePNG.file(width: 4000, height: 4000, bitDepth: 8, colorType: 0, rows: [[0]]))
        assertRejected(.corrupt, implausible, mentioning: ["4000 x 4000 needs 16004000 bytes", "1032:1"]) {
            _ = try PNGImage(contentsOf: $0)
        }
    }

    /// A FIFO or /dev/zero given as a volume said "You don't have permission" (or blocked).
    func testFIFOAndDevicesAreNotRegularFiles() throws {
        let fifo = tmp.appendingPathComponent("fifo.nii.gz")
        XCTAssertEqual(mkfifo(fifo.path, 0o600), 0)
        assertRejected(.unsupported, fifo, mentioning: ["not a regular file", "a FIFO"]) {
            _ = try NIfTIImage(contentsOf: $0)
        }
        assertRejected(.unsupported, fifo, mentioning: ["not a regular file", "a FIFO"]) {
            _ = try PNGImage(contentsOf: $0)
        }
        let zero = URL(fileURLWithPath: "/dev/zero")
        assertRejected(.unsupported, zero, mentioning: ["not a regular file", "a character device"]) {
            _ = try NIfTIImage(contentsOf: $0)
        }

        let images = tmp.appendingPathComponent("msd/imagesTr"), labels = tmp.appendingPathComponent("msd/labelsTr")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: labels, withIntermediateDirectories: true)
        XCTAssertEqual(mkfifo(images.appendingPathComponent("c1.nii.gz").path, 0o600), 0)
        try Data(try smallImage()).write(to: labels.appendingPathComponent("c1.nii"))
        assertRejected(.unsupported, images.appendingPathComponent("c1.nii.gz"),
                       mentioning: ["not a regular file"]) { _ in
            _ = try DatasetIndex.scan(self.tmp.appendingPathComponent("msd")).load(classes: 4)
        }
    }
}
