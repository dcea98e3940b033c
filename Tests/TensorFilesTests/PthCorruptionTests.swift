import Foundation
import XCTest
import Tensors
import TestSupport
@testable import TensorFiles

/// Damaged and malicious `.pth` files: each must fail with a specific error, never crash or hang.
final class PthCorruptionTests: TemporaryDirectoryTestCase {
    var tinySam: [UInt8] { get throws { try Array(Data(contentsOf: Fixtures.url("tiny_sam.pth"))) } }

    /// tiny_sam.pth's `data.pkl` entry and its storages' `data/<key>` entries in state-dict order
    /// (the folder is `tiny_sam/` when torch names it after the file).
    func tinySamEntries() throws -> (pickle: String, storages: [String]) {
        let pth = try PthCheckpoint(contentsOf: Fixtures.url("tiny_sam.pth"))
        return (pth.prefix + "data.pkl", pth.names.map { pth.prefix + "data/" + pth.layouts[$0]!.storage.key })
    }

    /// Offset of the central-directory header of `name` (signature, then the name at +46).
    func centralHeader(_ name: String, in bytes: [UInt8]) -> Int {
        let target = Array(name.utf8)
        for at in stride(from: bytes.count - 46 - target.count, through: 0, by: -1)
        where bytes[at] == 0x50 && bytes[at + 1] == 0x4B && bytes[at + 2] == 1 && bytes[at + 3] == 2
            && Int(bytes[at + 28]) | Int(bytes[at + 29]) << 8 == target.count
            && Array(bytes[at + 46 ..< at + 46 + target.count]) == target {
            return at
        }
        XCTFail("no central header for \(name)")
        return 0
    }

    func testTruncatedArchivesFail() throws {
        let bytes = try tinySam
        for cut in [0, 1, 21] {
            assertFails(["shorter than an end-of-central-directory record"]) {
                try PthCheckpoint(contentsOf: write(Array(bytes.prefix(cut)), "cut.pth"))
            }
        }
        for cut in [22, 64, 1000, bytes.count / 2, bytes.count - 22, bytes.count - 1] {
            assertFails(["no ZIP end-of-central-directory record"]) {
                try PthCheckpoint(contentsOf: write(Array(bytes.prefix(cut)), "cut.pth"))
            }
        }
    }

    /// A truncated archive whose end record survived (re-appended): offsets now point past the data.
    func testTruncatedDataWithEndRecordIntact() throws {
        let bytes = try tinySam
        let endRecord = Array(bytes.suffix(22))
        assertFails(["central directory", "overlaps the end record", "truncated or damaged"]) {
            try PthCheckpoint(contentsOf: write(Array(bytes.prefix(bytes.count / 2)) + endRecord, "cut.pth"))
        }
    }

    func testCentralDirectoryPointingOutsideTheFile() throws {
        let storages = try tinySamEntries().storages
        var sizes = try tinySam
        let header = centralHeader(storages[1], in: sizes)
        for i in 20..<28 { sizes[header + i] = 0x7F }   // compressed and uncompressed size
        assertFails(["ZIP entry '\(storages[1])'", "run past the start of the central directory"]) {
            try PthCheckpoint(contentsOf: write(sizes, "sizes.pth"))
        }

        var local = try tinySam
        let header2 = centralHeader(storages[2], in: local)
        local[header2 + 42] &+= 4                            // local header offset now misses the signature
        assertFails(["ZIP entry '\(storages[2])'", "no local header at byte"]) {
            try PthCheckpoint(contentsOf: write(local, "local.pth"))
        }
    }

    func testMissingStorageEntry() throws {
        let original = try PthCheckpoint(contentsOf: Fixtures.url("tiny_sam.pth"))
        let key = try XCTUnwrap(original.names.last.map { original.layouts[$0]!.storage.key })
        let owner = try XCTUnwrap(original.names.first { original.layouts[$0]!.storage.key == key })   // its first user
        let entry = original.prefix + "data/" + key
        var bytes = try tinySam
        let header = centralHeader(entry, in: bytes)
        bytes[header + 46 + (original.prefix + "data/").utf8.count] = UInt8(ascii: "X")   // first character of the key
        assertFails(["storage '\(key)' of tensor '\(owner)' is missing", "no ZIP entry '\(entry)'"]) {
            try PthCheckpoint(contentsOf: write(bytes, "missing.pth"))
        }
    }

    /// A tensor of tiny_sam.pth whose pickle call can be patched in place, and where.
    struct PatchTarget {
        let name: String
        let layout: PthTensorLayout
        let call: PickleScanner.TensorCall
        /// A dimension whose size, and one (of size > 1) whose stride, can be incremented in place.
        let sizeDimension: Int
        let strideDimension: Int
    }

    /// The first tensor that alone fills its storage (offset 0, contiguous) and whose storage numel,
    /// one size and one stride can each be incremented without changing their opcodes' widths.
    func patchTarget(_ pth: PthCheckpoint, _ calls: [PickleScanner.TensorCall]) -> PatchTarget? {
        let storageUsers = Dictionary(grouping: pth.layouts.values, by: \.storage.key).mapValues(\.count)
        for (name, call) in zip(pth.names, calls) {
            let layout = pth.layouts[name]!
            guard layout.offset == 0, layout.isContiguous, layout.count > 0, layout.count == layout.storage.numel,
                  storageUsers[layout.storage.key] == 1, call.numel.encoded(layout.storage.numel + 1) != nil,
                  let size = layout.shape.indices.first(where: { call.size[$0].encoded(layout.shape[$0] + 1) != nil }),
                  let stride = layout.shape.indices.first(where: {
                      layout.shape[$0] > 1 && call.stride[$0].encoded(layout.strides[$0] + 1) != nil
                  })
            else { continue }
            return PatchTarget(name: name, layout: layout, call: call, sizeDimension: size, strideDimension: stride)
        }
        return nil
    }

    /// Storage numel, a size and a stride of one tensor incremented in the pickle, at byte offsets
    /// found by walking its opcodes (`PickleScanner`); the scanned values are checked first.
    func testWrongNumelSizeAndStrideInPickle() throws {
        let pth = try PthCheckpoint(contentsOf: Fixtures.url("tiny_sam.pth"))
        let pickle = try XCTUnwrap(pth.archive.entry(pth.prefix + "data.pkl"))
        let calls = try PickleScanner.tensorCalls(in: Array(try pth.archive.contents(of: pickle)))
        XCTAssertEqual(calls.map { $0.size.map(\.value) }, pth.names.map { pth.layouts[$0]!.shape })
        XCTAssertEqual(calls.map { $0.stride.map(\.value) }, pth.names.map { pth.layouts[$0]!.strides })
        XCTAssertEqual(calls.map(\.numel.value), pth.names.map { pth.layouts[$0]!.storage.numel })
        let target = try XCTUnwrap(patchTarget(pth, calls), "no tensor of tiny_sam.pth can be patched in place")
        let (name, layout, storage) = (target.name, target.layout, target.layout.storage)
        let original = try tinySam
        /// tiny_sam.pth with `literal` set to `value`.
        func patched(_ literal: PickleScanner.IntLiteral, _ value: Int) throws -> [UInt8] {
            var bytes = original
            let at = pickle.dataOffset + literal.argument.lowerBound
            bytes.replaceSubrange(at ..< at + literal.argument.count, with: try XCTUnwrap(literal.encoded(value)))
            return bytes
        }

        let storageEntry = pth.prefix + "data/" + storage.key
        let storageBytes = try XCTUnwrap(pth.archive.entry(storageEntry)).uncompressedSize
        let numel = try patched(target.call.numel, storage.numel + 1)
        assertFails(["storage '\(storage.key)' of tensor '\(name)' claims "
                     + "\(storage.numel + 1) \(storage.dtype.rawValue) elements",
                     "'\(storageEntry)' has \(storageBytes) bytes"]) {
            try PthCheckpoint(contentsOf: write(numel, "numel.pth"))
        }

        var size = layout.shape
        size[target.sizeDimension] += 1
        let grown = try patched(target.call.size[target.sizeDimension], size[target.sizeDimension])
        assertFails(["byte \(target.call.reduce)",
                     "size \(size) has \(size.reduce(1, *)) elements, "
                     + "more than its storage '\(storage.key)' (\(storage.numel))"]) {
            try PthCheckpoint(contentsOf: write(grown, "size.pth"))
        }

        var strides = layout.strides
        strides[target.strideDimension] += 1
        // The furthest element read.
        let last = zip(layout.shape, strides).reduce(layout.offset) { $0 + ($1.0 - 1) * $1.1 }
        let strided = try patched(target.call.stride[target.strideDimension], strides[target.strideDimension])
        assertFails(["reads element \(last) of storage '\(storage.key)', which has \(storage.numel)"]) {
            try PthCheckpoint(contentsOf: write(strided, "stride.pth"))
        }
    }

    func testUnexpectedGlobalInArchive() throws {
        var w = PickleWriter()
        w.global("os", "system"); w.string("echo pwned"); w.op(0x85, 0x52, 0x2E)
        assertFails(["model.pth: archive/data.pkl: byte 2: global 'os system' is not allowed"]) {
            try PthCheckpoint(contentsOf: writePth(w.bytes, storages: []))
        }
    }

    func testDeflatedEntries() throws {
        let pickle = try tinySamEntries().pickle
        var bytes = try tinySam
        bytes[centralHeader(pickle, in: bytes) + 10] = 8
        assertFails(["ZIP entry '\(pickle)' is compressed (deflate)", "only stored"]) {
            try PthCheckpoint(contentsOf: write(bytes, "deflated.pth"))
        }

        let spec = TensorSpec(key: "w", numel: 2, shape: [2], strides: [1])
        let zip = TestZip.build([.init(name: "a/data.pkl", data: PickleWriter.stateDict([spec])),
                                 .init(name: "a/data/0", data: floatBytes([1, 2]), method: 8)])
        assertFails(["ZIP entry 'a/data/0' is compressed (deflate)"]) {
            try PthCheckpoint(contentsOf: write(zip, "deflated2.pth"))
        }
    }

    func testNotAZipFile() throws {
        let text = Array(String(repeating: "not a checkpoint at all\n", count: 10).utf8)
        assertFails(["no ZIP end-of-central-directory record"]) {
            try PthCheckpoint(contentsOf: write(text, "text.pth"))
        }
        assertFails(["not a checkpoint: neither a ZIP archive (.pth) nor a safetensors file"]) {
            try TensorArchives.open(write(text, "text.bin"))
        }
        assertFails(["legacy (pre-1.6) torch.save format"]) {
            try TensorArchives.open(write([0x80, 0x02, 0x8A, 0x0A] + text, "legacy.pth"))
        }
        assertFails(["cannot open"]) { try TensorArchives.open(directory.appendingPathComponent("absent.pth")) }
    }

    /// Random byte corruptions of a small valid checkpoint: every outcome is a load or a
    /// `CheckpointError` (a crash or a hang fails the whole run).
    func testRandomCorruptionsNeverCrash() throws {
        let original = try Array(Data(contentsOf: Fixtures.url("pth_variants.pth")))
        let rng = CounterRNG(seed: 3, stream: 17)
        var failures = 0
        for trial in 0..<300 {
            var bytes = original
            for flip in 0..<1 + Int(rng.uniformInt(UInt64(trial * 8), below: 4)) {
                let at = Int(rng.uniformInt(UInt64(trial * 8 + flip + 1), below: UInt64(bytes.count)))
                bytes[at] = UInt8(truncatingIfNeeded: rng.bits(UInt64(trial * 8 + flip + 5)))
            }
            do {
                let pth = try PthCheckpoint(contentsOf: write(bytes, "fuzz.pth"))
                for name in pth.names { _ = try pth.tensor(name) }
            } catch is CheckpointError {
                failures += 1
            }
        }
        XCTAssertGreaterThan(failures, 10, "most corruptions of structure should be detected")
    }
}
