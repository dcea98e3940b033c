import Foundation
import XCTest
import Tensors
import TestSupport
@testable import TensorFiles

/// `.pth` archives built in code whose pickle or layout is wrong (unknown opcodes, lengths and
/// sizes beyond the file, a big-endian byte order, no state dict): each fails with a specific
/// error naming the file. Damage to the real tiny_sam.pth is in `PthCorruptionTests`.
final class PthStructureTests: TemporaryDirectoryTestCase {
    func testUnknownOpcodeAndHugeLengths() throws {
        assertFails(["archive/data.pkl: byte 2: unknown pickle opcode 0xFF"]) {
            try PthCheckpoint(contentsOf: writePth([0x80, 2, 0xFF, 0x2E], storages: []))
        }
        var huge: [UInt8] = [0x80, 2, 0x58]
        huge.le(UInt32(0xFFFF_FFF0))
        assertFails(["byte 2: BINUNICODE length 4294967280 exceeds the 1 remaining bytes"]) {
            try PthCheckpoint(contentsOf: writePth(huge + [0x2E], storages: []))
        }
        let bigStorage = TensorSpec(key: "w", numel: 1 << 62, shape: [1 << 62], strides: [1])
        assertFails(["storage '0' of tensor 'w' claims 4611686018427387904 F32 elements", "has 16 bytes"]) {
            try PthCheckpoint(contentsOf: writePth(PickleWriter.stateDict([bigStorage]),
                                                   storages: [("0", floatBytes([1, 2, 3, 4]))]))
        }
        let overflow = TensorSpec(key: "w", numel: 4, shape: [1 << 40, 1 << 40], strides: [1, 1])
        assertFails(["tensor size [1099511627776, 1099511627776] overflows"]) {
            try PthCheckpoint(contentsOf: writePth(PickleWriter.stateDict([overflow]),
                                                   storages: [("0", floatBytes([1, 2, 3, 4]))]))
        }
        let rank = TensorSpec(key: "w", numel: 4, shape: [Int](repeating: 1, count: 40),
                              strides: [Int](repeating: 1, count: 40))
        assertFails(["tensor size has 40 dimensions (at most 32 supported)"]) {
            try PthCheckpoint(contentsOf: writePth(PickleWriter.stateDict([rank]),
                                                   storages: [("0", floatBytes([1, 2, 3, 4]))]))
        }
        let expanded = TensorSpec(key: "w", numel: 1, shape: [1_000_000_000], strides: [0])
        assertFails(["1000000000 elements, more than its storage '0' (1)",
                     "expanded or overlapping views are not supported"]) {
            try PthCheckpoint(contentsOf: writePth(PickleWriter.stateDict([expanded]),
                                                   storages: [("0", floatBytes([1]))]))
        }
    }

    func testArchiveStructureErrors() throws {
        let spec = TensorSpec(key: "w", numel: 1, shape: [1], strides: [1])
        let dict = PickleWriter.stateDict([spec])
        assertFails(["saved on a big-endian machine"]) {
            try PthCheckpoint(contentsOf: writePth(dict, storages: [("0", [0, 0, 0, 0])], byteorder: "big"))
        }
        assertFails(["no data.pkl entry"]) {
            try PthCheckpoint(contentsOf: write(TestZip.build([.init(name: "x/data/0", data: [1])]), "none.pth"))
        }
        assertFails(["data.pkl holds list of 0, expected a state dict"]) {
            try PthCheckpoint(contentsOf: writePth([0x80, 2, 0x5D, 0x2E], storages: []))
        }
        var nested = PickleWriter()
        nested.op(0x7D); nested.string("epoch"); nested.int(3); nested.op(0x73, 0x2E)
        assertFails(["state dict entry 'epoch' is int 3, not a tensor"]) {
            try PthCheckpoint(contentsOf: writePth(nested.bytes, storages: []))
        }
        let conflicting = [spec,
                           TensorSpec(key: "v", storageClass: "DoubleStorage", numel: 1, shape: [1], strides: [1])]
        assertFails(["storage '0' is 1 x F64 here but 1 x F32 earlier"]) {
            try PthCheckpoint(contentsOf: writePth(PickleWriter.stateDict(conflicting),
                                                   storages: [("0", [0, 0, 0, 0])]))
        }
    }
}
