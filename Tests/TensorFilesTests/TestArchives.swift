import Foundation
import XCTest
@testable import TensorFiles

/// Hand-made ZIP archives for the reader tests (stored entries; CRCs are left 0, the reader does
/// not check them). `localExtra` pads the local header only, as torch's `FB` records do.
struct TestZip {
    struct Entry {
        var name: String
        var data: [UInt8]
        var method: UInt16 = 0
    }

    static func build(_ entries: [Entry], zip64: Bool = false, localExtra: Int = 0, comment: String = "") -> [UInt8] {
        var out: [UInt8] = []
        var central: [UInt8] = []
        for e in entries {
            let offset = out.count
            let name = Array(e.name.utf8)
            out.le(UInt32(0x0403_4B50)); out.le(UInt16(20)); out.le(UInt16(0)); out.le(e.method)
            out.le(UInt32(0)); out.le(UInt32(0))                                   // time/date, crc
            out.le(UInt32(e.data.count)); out.le(UInt32(e.data.count))
            out.le(UInt16(name.count)); out.le(UInt16(localExtra))
            out += name + [UInt8](repeating: 0x5A, count: localExtra) + e.data
            let saturated: UInt32 = zip64 ? 0xFFFF_FFFF : 0
            central.le(UInt32(0x0201_4B50)); central.le(UInt16(45)); central.le(UInt16(45)); central.le(UInt16(0))
            central.le(e.method); central.le(UInt32(0)); central.le(UInt32(0))
            central.le(zip64 ? saturated : UInt32(e.data.count)); central.le(zip64 ? saturated : UInt32(e.data.count))
            central.le(UInt16(name.count)); central.le(UInt16(zip64 ? 28 : 0)); central.le(UInt16(0))
            central.le(UInt16(0)); central.le(UInt16(0)); central.le(UInt32(0))
            central.le(zip64 ? saturated : UInt32(offset))
            central += name
            if zip64 {
                central.le(UInt16(1)); central.le(UInt16(24))
                central.le(UInt64(e.data.count)); central.le(UInt64(e.data.count)); central.le(UInt64(offset))
            }
        }
        let directoryOffset = out.count
        out += central
        if zip64 {
            let record = out.count
            out.le(UInt32(0x0606_4B50)); out.le(UInt64(44)); out.le(UInt16(45)); out.le(UInt16(45))
            out.le(UInt32(0)); out.le(UInt32(0)); out.le(UInt64(entries.count)); out.le(UInt64(entries.count))
            out.le(UInt64(central.count)); out.le(UInt64(directoryOffset))
            out.le(UInt32(0x0706_4B50)); out.le(UInt32(0)); out.le(UInt64(record)); out.le(UInt32(1))
        }
        out.le(UInt32(0x0605_4B50)); out.le(UInt16(0)); out.le(UInt16(0))
        out.le(zip64 ? UInt16(0xFFFF) : UInt16(entries.count)); out.le(zip64 ? UInt16(0xFFFF) : UInt16(entries.count))
        out.le(zip64 ? UInt32(0xFFFF_FFFF) : UInt32(central.count))
        out.le(zip64 ? UInt32(0xFFFF_FFFF) : UInt32(directoryOffset))
        out.le(UInt16(comment.utf8.count))
        out += Array(comment.utf8)
        return out
    }
}

/// Writes pickle opcodes by hand (protocol 2, as torch does).
struct PickleWriter {
    var bytes: [UInt8] = [0x80, 2]

    mutating func op(_ codes: UInt8...) { bytes += codes }
    mutating func global(_ module: String, _ name: String) { bytes += [0x63] + Array("\(module)\n\(name)\n".utf8) }
    mutating func string(_ s: String) {
        bytes.append(0x58)
        bytes.le(UInt32(s.utf8.count))
        bytes += Array(s.utf8)
    }
    mutating func int(_ i: Int) {
        switch i {
        case 0..<256: bytes += [0x4B, UInt8(i)]
        case 256..<65536: bytes += [0x4D]; bytes.le(UInt16(i))
        case Int(Int32.min)...Int(Int32.max): bytes += [0x4A]; bytes.le(Int32(i))
        default: bytes += [0x8A, 8]; bytes.le(Int64(i))
        }
    }
    mutating func intTuple(_ values: [Int]) {
        op(0x28)
        values.forEach { int($0) }
        op(0x74)
    }

    /// One `_rebuild_tensor_v2` (optionally wrapped in `_rebuild_parameter`) of a tensor spec.
    mutating func tensor(_ t: TensorSpec) {
        if t.parameter { global("torch._utils", "_rebuild_parameter"); op(0x28) }
        global("torch._utils", "_rebuild_tensor_v2")
        op(0x28, 0x28)                                       // args MARK, pid MARK
        string("storage"); global("torch", t.storageClass); string(t.storageKey); string("cpu"); int(t.numel)
        op(0x74, 0x51)                                       // TUPLE, BINPERSID
        int(t.offset); intTuple(t.shape); intTuple(t.strides)
        op(0x89)                                             // NEWFALSE
        global("collections", "OrderedDict"); op(0x29, 0x52) // OrderedDict()
        if t.extraArgument { op(0x4E) }                      // torch >= 2 metadata argument
        op(0x74, 0x52)                                       // TUPLE, REDUCE
        if t.parameter { op(0x89); global("collections", "OrderedDict"); op(0x29, 0x52, 0x74, 0x52) }
    }

    /// A whole state dict: OrderedDict() then SETITEMS of key/tensor pairs, STOP.
    static func stateDict(_ tensors: [TensorSpec]) -> [UInt8] {
        var w = PickleWriter()
        w.global("collections", "OrderedDict"); w.op(0x71, 0, 0x29, 0x52, 0x28)
        for t in tensors { w.string(t.key); w.tensor(t) }
        w.op(0x75, 0x2E)
        return w.bytes
    }
}

struct TensorSpec {
    var key: String
    var storageClass = "FloatStorage"
    var storageKey = "0"
    var numel: Int
    var offset = 0
    var shape: [Int]
    var strides: [Int]
    var parameter = false
    var extraArgument = false
}

extension Array where Element == UInt8 {
    mutating func le<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }
}

/// A scratch directory removed when the test case finishes.
class TemporaryDirectoryTestCase: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ckpt-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    func write(_ bytes: [UInt8], _ name: String) throws -> URL {
        let url = directory.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url
    }

    /// A `.pth`-style archive under `prefix` with `data.pkl`, `byteorder` and `data/<key>` storages.
    func writePth(_ pickle: [UInt8], storages: [(String, [UInt8])], prefix: String = "archive/",
                  byteorder: String? = "little", zip64: Bool = false, name: String = "model.pth") throws -> URL {
        var entries = [TestZip.Entry(name: prefix + "data.pkl", data: pickle)]
        if let byteorder { entries.append(.init(name: prefix + "byteorder", data: Array(byteorder.utf8))) }
        entries += storages.map { TestZip.Entry(name: prefix + "data/" + $0.0, data: $0.1) }
        entries.append(.init(name: prefix + "version", data: Array("3\n".utf8)))
        return try write(TestZip.build(entries, zip64: zip64, localExtra: 7), name)
    }

    /// Asserts that `body` throws a `CheckpointError` whose description contains every fragment.
    func assertFails<T>(_ fragments: [String], file: StaticString = #filePath, line: UInt = #line,
                        _ body: () throws -> T) {
        do {
            _ = try body()
            XCTFail("expected an error containing \(fragments)", file: file, line: line)
        } catch let error as CheckpointError {
            for f in fragments where !error.description.contains(f) {
                XCTFail("error '\(error.description)' does not contain '\(f)'", file: file, line: line)
            }
        } catch {
            XCTFail("unexpected error type: \(error)", file: file, line: line)
        }
    }
}

func littleEndianBytes<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
    var out: [UInt8] = []
    values.forEach { out.le($0) }
    return out
}

func floatBytes(_ values: [Float]) -> [UInt8] { littleEndianBytes(values.map(\.bitPattern)) }
