import Foundation
import Tensors
import TestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif
@testable import TensorFiles

/// Inputs that once crashed or hung a reader, rebuilt in code: each must fail with a
/// `CheckpointError` naming the file and what was wrong.
final class CheckpointCrashCorpusTests: TemporaryDirectoryTestCase {
    /// 2 MB of nested TUPLE1 opcodes overflowed the stack when the nested tuple was released.
    func testDeeplyNestedTuplesInAPickle() throws {
        let url = try writePth([0x80, 2, 0x4E] + [UInt8](repeating: 0x85, count: 2_000_000) + [0x2E], storages: [])
        assertFails(["\(url.path): archive/data.pkl", "byte \(3 + 256): tuples nested more than 256 deep"]) {
            try PthCheckpoint(contentsOf: url)
        }
    }

    /// A FIFO blocked the safetensors reader; a FIFO or a device is refused by name, without blocking.
    func testFIFOAndDevicesAreNotRegularFiles() throws {
        let fifo = directory.appendingPathComponent("fifo.safetensors")
        XCTAssertEqual(mkfifo(fifo.path, 0o600), 0)
        assertFails([fifo.path, "not a regular file"]) { try SafeTensorsFile(contentsOf: fifo) }
        assertFails([fifo.path, "not a regular file"]) { try TensorArchives.open(fifo) }
        assertFails(["/dev/zero: not a regular file"]) {
            try PthCheckpoint(contentsOf: URL(fileURLWithPath: "/dev/zero"))
        }
    }

    /// Shape entries that are not integers an `Int` holds are named with the values found.
    func testSafetensorsShapeBeyondInt() throws {
        for shape in ["[1e30]", "[18446744073709551616]", "[2, -3]"] {
            var bytes: [UInt8] = []
            let header = "{\"t\": {\"dtype\": \"F32\", \"shape\": \(shape), \"data_offsets\": [0, 4]}}"
            bytes.le(UInt64(header.utf8.count))
            bytes += Array(header.utf8) + [0, 0, 0, 0]
            assertFails(["big.safetensors: tensor 't': shape", "is not a list of non-negative integers"]) {
                try SafeTensorsFile(bytes: Data(bytes), path: "big.safetensors")
            }
        }
    }
}
