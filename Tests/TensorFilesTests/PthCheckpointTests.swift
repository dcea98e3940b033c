import Foundation
import XCTest
import Tensors
import TestSupport
@testable import TensorFiles

final class PthCheckpointTests: TemporaryDirectoryTestCase {
    /// `tiny_sam_keys.json`: every key with shape, dtype and numel, in state-dict order.
    func testTinySamKeysShapesAndDtypesMatchKeyList() throws {
        let data = try Data(contentsOf: Fixtures.url("tiny_sam_keys.json"))
        let json = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let keys = json["keys"] as! [[String: Any]]
        let pth = try PthCheckpoint(contentsOf: Fixtures.url("tiny_sam.pth"))
        XCTAssertEqual(keys.count, json["num_keys"] as? Int)
        XCTAssertEqual(pth.names, keys.map { $0["key"] as! String })
        let torchNames: [String: DType] = ["float32": .f32, "float16": .f16, "int64": .i64]
        var total = 0
        for k in keys {
            let info = try pth.info(k["key"] as! String)
            XCTAssertEqual(info.shape, k["shape"] as! [Int], info.name)
            XCTAssertEqual(info.dtype, torchNames[k["dtype"] as! String], info.name)
            XCTAssertEqual(info.count, k["numel"] as! Int, info.name)
            total += info.count
        }
        XCTAssertEqual(total, json["num_params"] as? Int)
    }

    func testTinySamTensorsEqualSafetensorsExactly() throws {
        let pth = try PthCheckpoint(contentsOf: Fixtures.url("tiny_sam.pth"))
        let reference = try Fixtures.file("tiny_sam")
        XCTAssertEqual(Set(pth.names), Set(reference.names))
        let all = try pth.loadAll()
        XCTAssertEqual(all.map(\.key), pth.names)
        for (key, dtype, shape, tensor) in all {
            let expected = try reference.tensor(key)
            XCTAssertEqual(dtype, try reference.entry(key).dtype, key)
            XCTAssertEqual(shape, expected.shape, key)
            XCTAssertEqual(tensor.shape, expected.shape, key)
            XCTAssertEqual(tensor.data.map(\.bitPattern), expected.data.map(\.bitPattern), key)
        }
    }

    /// The archive prefix and every entry's data offset agree with the manifest's `pth_layout`.
    func testTinySamArchiveLayoutMatchesManifest() throws {
        let layout = Fixtures.manifest["pth_layout"] as! [String: Any]
        let pth = try PthCheckpoint(contentsOf: Fixtures.url("tiny_sam.pth"))
        XCTAssertEqual(pth.prefix, layout["archive_prefix"] as? String)
        let entries = layout["entries"] as! [[String: Any]]
        XCTAssertEqual(pth.archive.entries.map(\.name), entries.map { $0["name"] as! String })
        for (entry, expected) in zip(pth.archive.entries, entries) {
            XCTAssertEqual(entry.dataOffset, expected["data_offset"] as? Int, entry.name)
            XCTAssertEqual(entry.uncompressedSize, expected["size"] as? Int, entry.name)
            XCTAssertEqual(Int(entry.method), expected["compress_type"] as? Int, entry.name)
        }
        let pickle = try pth.archive.contents(of: layout["data_pkl_entry"] as! String)
        XCTAssertEqual(pickle.prefix(2).map { String(format: "%02x", $0) }.joined(),
                       layout["pickle_first_bytes"] as? String)
    }

    /// Views with offsets and strides on shared storages, float16, int64 and a 0-dim tensor.
    func testPthVariantsMatchExpected() throws {
        let pth = try PthCheckpoint(contentsOf: Fixtures.url("pth_variants.pth"))
        let expected = try Fixtures.file("pth_variants_expected")
        let layout = try XCTUnwrap(Fixtures.fileInfo("pth_variants.pth")?["layout"] as? [String: Any])
        XCTAssertEqual(pth.prefix, try XCTUnwrap(layout["archive_prefix"] as? String))
        XCTAssertEqual(Set(pth.names), Set(expected.names))
        for name in expected.names {
            let e = try expected.entry(name)
            let info = try pth.info(name)
            XCTAssertEqual(info.dtype, e.dtype, name)
            XCTAssertEqual(info.count, e.count, name)
            if info.shape.isEmpty {
                XCTAssertEqual(e.shape, [1], "0-dim tensors are stored with shape [1]")
            } else {
                XCTAssertEqual(info.shape, e.shape, name)
            }
            let actual = try pth.tensor(name)
            XCTAssertEqual(actual.shape, info.shape, name)
            XCTAssertEqual(actual.data.map(\.bitPattern), try expected.tensor(name).data.map(\.bitPattern), name)
            if [.i64, .i32, .i16, .i8, .u8, .bool].contains(e.dtype) {
                XCTAssertEqual(try pth.integers(name), try expected.integers(name), name)
            } else {
                assertFails(["'\(name)'", "expected an integer dtype"]) { try pth.integers(name) }
            }
        }
        let storages = Set(pth.layouts.values.map(\.storage.key))
        XCTAssertLessThan(storages.count, pth.names.count, "the fixture shares storages between views")
        XCTAssertTrue(pth.layouts.values.contains { !$0.isContiguous }, "the fixture has non-contiguous views")
        XCTAssertTrue(pth.layouts.values.contains { $0.offset > 0 }, "the fixture has storage offsets")
    }

    /// Every storage class, a 3-d permuted view with an offset, `_rebuild_parameter`, the 7th
    /// `_rebuild_tensor_v2` argument, and big (BININT / LONG1) element counts.
    func testHandBuiltStorageClassesAndViews() throws {
        let base: [Float] = (0..<30).map { Float($0) * 0.5 - 3 }
        let doubles: [Double] = [1.5, -2.25, 1e-3]
        var specs = [
            TensorSpec(key: "permuted", storageKey: "f", numel: 30, offset: 3, shape: [3, 2, 4], strides: [1, 12, 3]),
            TensorSpec(key: "param", storageKey: "f", numel: 30, offset: 0, shape: [30], strides: [1], parameter: true),
            TensorSpec(key: "extra", storageKey: "f", numel: 30, offset: 29, shape: [], strides: [],
                       extraArgument: true),
            TensorSpec(key: "f64", storageClass: "DoubleStorage", storageKey: "d", numel: 3, shape: [3], strides: [1]),
            TensorSpec(key: "bf16", storageClass: "BFloat16Storage", storageKey: "b", numel: 2, shape: [2],
                       strides: [1]),
            TensorSpec(key: "empty", storageKey: "f", numel: 30, offset: 30, shape: [0, 5], strides: [5, 1]),
        ]
        let ints: [(String, String, [UInt8], [Int])] = [
            ("i32", "IntStorage", littleEndianBytes([Int32(-70000), 5]), [-70000, 5]),
            ("i16", "ShortStorage", littleEndianBytes([Int16(-300), 7]), [-300, 7]),
            ("i8", "CharStorage", [0x80, 0x7F], [-128, 127]),
            ("u8", "ByteStorage", [0xFF, 0x01], [255, 1]),
            ("bool", "BoolStorage", [1, 0], [1, 0]),
            ("i64", "LongStorage", littleEndianBytes([Int64(1) << 40, -1]), [1 << 40, -1]),
        ]
        specs += ints.map {
            TensorSpec(key: $0.0, storageClass: $0.1, storageKey: $0.0, numel: 2, shape: [2], strides: [1])
        }
        var storages = [("f", floatBytes(base)), ("d", littleEndianBytes(doubles.map(\.bitPattern))),
                        ("b", littleEndianBytes([UInt16(0x3FC0), UInt16(0xC080)]))]
        storages += ints.map { ($0.0, $0.2) }
        let pth = try PthCheckpoint(contentsOf: writePth(PickleWriter.stateDict(specs), storages: storages))

        XCTAssertEqual(pth.names, specs.map(\.key))
        let permuted = try pth.tensor("permuted")
        XCTAssertEqual(permuted.shape, [3, 2, 4])
        for i in 0..<3 {
            for j in 0..<2 { for k in 0..<4 { XCTAssertEqual(permuted[i, j, k], base[3 + i + 12 * j + 3 * k]) } }
        }
        XCTAssertEqual(try pth.tensor("param").data, base)
        XCTAssertEqual(try pth.tensor("extra"), Tensor(shape: [], data: [base[29]]))
        XCTAssertEqual(try pth.tensor("empty").shape, [0, 5])
        XCTAssertEqual(try pth.tensor("f64").data, doubles.map(Float.init))
        XCTAssertEqual(try pth.tensor("bf16").data, [1.5, -4])
        for (key, _, _, values) in ints {
            XCTAssertEqual(try pth.integers(key), values, key)
            XCTAssertEqual(try pth.tensor(key).data, values.map(Float.init), key)
        }
    }

    func testZip64ArchiveWithoutByteorderEntry() throws {
        let spec = TensorSpec(key: "w", numel: 4, shape: [2, 2], strides: [2, 1])
        let url = try writePth(PickleWriter.stateDict([spec]), storages: [("0", floatBytes([1, 2, 3, 4]))],
                               prefix: "old_name/", byteorder: nil, zip64: true)
        let pth = try PthCheckpoint(contentsOf: url)
        XCTAssertEqual(pth.prefix, "old_name/")
        XCTAssertEqual(try pth.tensor("w"), Tensor(shape: [2, 2], data: [1, 2, 3, 4]))
    }

    func testTensorArchivesOpensEitherFormatByContent() throws {
        let pthCopy = directory.appendingPathComponent("model.safetensors")   // misleading extension
        try FileManager.default.copyItem(at: Fixtures.url("tiny_sam.pth"), to: pthCopy)
        let pth = try TensorArchives.open(pthCopy)
        let safe = try TensorArchives.open(Fixtures.url("tiny_sam.safetensors"))
        XCTAssertTrue(pth is PthCheckpoint)
        XCTAssertTrue(safe is SafeTensorsFile)
        let safeInfos = Dictionary(uniqueKeysWithValues: try safe.infos().map { ($0.name, $0) })
        for info in try pth.infos() {
            XCTAssertEqual(info, safeInfos[info.name], info.name)
        }
        let last = try XCTUnwrap(pth.names.last)
        XCTAssertEqual(try pth.tensor(last), try safe.tensor(last))
    }
}
