import Foundation
import XCTest
import Tensors
import TestSupport
@testable import TensorFiles

/// The restricted unpickler on hand-written opcode sequences.
final class UnpicklerTests: TemporaryDirectoryTestCase {
    /// Unpickles `bytes` and describes the result (its `kind`).
    func unpickle(_ bytes: [UInt8], limits: PickleLimits = PickleLimits()) throws -> String {
        try bytes.withUnsafeBytes { raw in
            var u = Unpickler(bytes: raw, file: "test.pkl", limits: limits)
            return try u.load { $0.kind }
        }
    }

    func testRejectedOpcodesAreNamedWithTheirOffset() {
        let cases: [([UInt8], String)] = [
            ([0x80, 2, 0x69] + Array("os\nsystem\n".utf8), "byte 2: pickle opcode INST (0x69) is not allowed"),
            ([0x80, 2, 0x28, 0x6F], "byte 3: pickle opcode OBJ (0x6F)"),
            ([0x80, 2, 0x50] + Array("0\n".utf8), "byte 2: pickle opcode PERSID (0x50)"),
            ([0x80, 2, 0x82, 1], "byte 2: pickle opcode EXT1 (0x82)"),
            ([0x80, 2, 0x4E, 0x29, 0x81], "byte 4: pickle opcode NEWOBJ (0x81)"),
            ([0x80, 2, 0x4E, 0x30], "byte 3: pickle opcode POP (0x30)"),
            ([0x80, 2, 0xFF], "byte 2: unknown pickle opcode 0xFF"),
            ([0x80, 6], "byte 0: unsupported pickle protocol 6"),
        ]
        for (bytes, message) in cases { assertFails(["test.pkl", message]) { try unpickle(bytes) } }
    }

    func testOnlyAllowListedGlobalsAndCalls() {
        var system = PickleWriter()
        system.global("os", "system"); system.string("ls"); system.op(0x85, 0x52, 0x2E)
        assertFails(["byte 2: global 'os system' is not allowed"]) { try unpickle(system.bytes) }
        var eval = PickleWriter()
        eval.op(0x8C, 8); eval.bytes += Array("builtins".utf8)
        eval.op(0x8C, 4); eval.bytes += Array("eval".utf8)
        eval.op(0x93)
        assertFails(["byte 18: global 'builtins eval' is not allowed"]) { try unpickle(eval.bytes) }
        var lookalike = PickleWriter()
        lookalike.global("torch", "load")
        assertFails(["global 'torch load' is not allowed"]) { try unpickle(lookalike.bytes) }
        var notCallable = PickleWriter()
        notCallable.string("os.system"); notCallable.op(0x29, 0x52)
        assertFails(["byte 17: REDUCE on string 'os.system', which is not callable"]) {
            try unpickle(notCallable.bytes)
        }
        var storage = PickleWriter()
        storage.global("torch", "FloatStorage"); storage.op(0x29, 0x52)
        assertFails(["calling torch FloatStorage is not allowed"]) { try unpickle(storage.bytes) }
        var withArgs = PickleWriter()
        withArgs.global("collections", "OrderedDict"); withArgs.op(0x5D, 0x85, 0x52)
        assertFails(["only OrderedDict() is supported"]) { try unpickle(withArgs.bytes) }
        var build = PickleWriter()
        build.op(0x5D, 0x7D, 0x62)
        assertFails(["BUILD on list of 0 is not supported"]) { try unpickle(build.bytes) }
        var persid = PickleWriter()
        persid.string("storage"); persid.op(0x85, 0x51)
        assertFails(["persistent id tuple of 1 is not ('storage', class, key, location, numel)"]) {
            try unpickle(persid.bytes)
        }
    }

    func testTruncationAndLengths() {
        assertFails(["byte 2: pickle ended without STOP after 2 bytes"]) { try unpickle([0x80, 2]) }
        assertFails(["byte 2: BININT needs 4 bytes but only 2 remain"]) { try unpickle([0x80, 2, 0x4A, 1, 2]) }
        assertFails(["BINUNICODE8 length 18446744073709551615 exceeds the 1 remaining bytes"]) {
            try unpickle([0x80, 2, 0x8D] + [UInt8](repeating: 0xFF, count: 8) + [0x2E])
        }
        assertFails(["BINSTRING length -1 exceeds the 1 remaining bytes"]) {
            try unpickle([0x80, 2, 0x54, 0xFF, 0xFF, 0xFF, 0xFF, 0x2E])
        }
        assertFails(["SHORT_BINUNICODE of 2 bytes is not valid UTF-8"]) {
            try unpickle([0x80, 2, 0x8C, 2, 0xC3, 0x28, 0x2E])
        }
        assertFails(["GLOBAL argument has no newline within 257 bytes"]) {
            try unpickle([0x80, 2, 0x63] + [UInt8](repeating: 0x61, count: 400))
        }
        assertFails(["LONG1 integer of 9 bytes is too large"]) {
            try unpickle([0x80, 2, 0x8A, 9] + [UInt8](repeating: 0, count: 9))
        }
        assertFails(["byte 2: memo GET of index 7, which was never stored"]) { try unpickle([0x80, 2, 0x68, 7]) }
        assertFails(["byte 2: TUPLE without a MARK"]) { try unpickle([0x80, 2, 0x74]) }
        assertFails(["byte 3: TUPLE2 needs 2 value(s) above the mark, found 1"]) { try unpickle([0x80, 2, 0x4E, 0x86]) }
        assertFails(["SETITEMS with an odd number (1)"]) { try unpickle([0x80, 2, 0x7D, 0x28, 0x4E, 0x75]) }
        assertFails(["APPEND(S) target is None, not a list"]) { try unpickle([0x80, 2, 0x4E, 0x4E, 0x61]) }
        assertFails(["STOP with an empty stack"]) { try unpickle([0x80, 2, 0x2E]) }
        assertFails(["byte 5: APPEND(S) with no target on the stack"]) {
            try unpickle([0x80, 2, 0x5D, 0x28, 0x4E, 0x61])
        }
    }

    func testLimitsBoundStackMarksAndMemo() {
        let small = PickleLimits(maxStackDepth: 50, maxMarkDepth: 10, maxMemoEntries: 10)
        assertFails(["stack deeper than 50 values"]) {
            try unpickle([0x80, 2] + [UInt8](repeating: 0x4E, count: 100), limits: small)
        }
        assertFails(["more than 10 nested MARKs"]) {
            try unpickle([0x80, 2] + [UInt8](repeating: 0x28, count: 20), limits: small)
        }
        var memo: [UInt8] = [0x80, 2, 0x4E]
        for i in 0..<20 { memo += [0x72]; memo.le(UInt32(i * 1000)) }
        assertFails(["more than 10 memo entries"]) { try unpickle(memo, limits: small) }
        var overwrite: [UInt8] = [0x80, 2, 0x4E]
        for _ in 0..<20 { overwrite += [0x72, 0xFF, 0xFF, 0xFF, 0xFF] }   // the same index: no growth
        XCTAssertEqual(try unpickle(overwrite + [0x2E], limits: small), "None")
        // Tuples nested 3 deep are read, 4 deep are not.
        let shallow = PickleLimits(maxTupleDepth: 3)
        XCTAssertEqual(try unpickle([0x80, 2, 0x4E, 0x85, 0x85, 0x85, 0x2E], limits: shallow), "tuple of 1")
        assertFails(["byte 6: tuples nested more than 3 deep"]) {
            try unpickle([0x80, 2, 0x4E, 0x85, 0x85, 0x85, 0x85, 0x2E], limits: shallow)
        }
        // A list holding a 2-deep tuple, inside 3 more tuples: the list is emptied iteratively after loading.
        XCTAssertEqual(try unpickle([0x80, 2, 0x5D, 0x4E, 0x85, 0x85, 0x61, 0x85, 0x85, 0x85, 0x2E], limits: shallow),
                       "tuple of 1")
    }

    func testValuesAndSharedContainers() throws {
        XCTAssertEqual(try unpickle([0x80, 2, 0x8A, 1, 0xFF, 0x2E]), "int -1")
        XCTAssertEqual(try unpickle([0x80, 2, 0x8A, 0, 0x2E]), "int 0")
        XCTAssertEqual(try unpickle([0x80, 2, 0x8A, 8, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x2E]), "int \(Int.min)")
        XCTAssertEqual(try unpickle([0x80, 2, 0x4A, 0xFE, 0xFF, 0xFF, 0xFF, 0x2E]), "int -2")
        XCTAssertEqual(try unpickle([0x80, 2, 0x47, 0x3F, 0xF8, 0, 0, 0, 0, 0, 0, 0x2E]), "float 1.5")
        XCTAssertEqual(try unpickle([0x80, 2, 0x55, 2, 0x68, 0x69, 0x2E]), "string 'hi'")
        XCTAssertEqual(try unpickle([0x80, 2, 0x88, 0x2E]), "bool True")
        XCTAssertEqual(try unpickle([0x80, 2, 0x4E, 0x4E, 0x4E, 0x87, 0x2E]), "tuple of 3")
        // A dict fetched again from the memo is the same dict: both SETITEMs land in it.
        var shared = PickleWriter()
        shared.op(0x7D, 0x71, 0); shared.string("a"); shared.int(1); shared.op(0x73)
        shared.op(0x68, 0); shared.string("b"); shared.int(2); shared.op(0x73, 0x2E)
        XCTAssertEqual(try unpickle(shared.bytes), "dict of 2")
        // A list containing itself: no crash, no infinite loop.
        XCTAssertEqual(try unpickle([0x80, 2, 0x5D, 0x71, 0, 0x68, 0, 0x61, 0x28, 0x68, 0, 0x68, 0, 0x65, 0x2E]),
                       "list of 3")
        // Protocol 4 framing, MEMOIZE and STACK_GLOBAL with an allowed global.
        var p4: [UInt8] = [0x80, 4, 0x95]
        p4.le(UInt64(30))
        p4 += [0x8C, 11] + Array("collections".utf8) + [0x94, 0x8C, 11] + Array("OrderedDict".utf8) + [0x94, 0x93,
                                                                                                       0x29, 0x52, 0x2E]
        XCTAssertEqual(try unpickle(p4), "dict of 0")
    }

    /// Random mutations of a real state-dict pickle: every outcome is a value or a CheckpointError.
    func testRandomPickleMutationsNeverCrash() throws {
        let pth = try PthCheckpoint(contentsOf: Fixtures.url("pth_variants.pth"))
        let original = Array(try pth.archive.contents(of: pth.prefix + "data.pkl"))
        let rng = CounterRNG(seed: 11)
        var rejected = 0
        for trial in 0..<2000 {
            var bytes = original
            let at = Int(rng.uniformInt(UInt64(2 * trial), below: UInt64(bytes.count)))
            bytes[at] = UInt8(truncatingIfNeeded: rng.bits(UInt64(2 * trial + 1)))
            do { _ = try unpickle(bytes) } catch is CheckpointError { rejected += 1 }
        }
        XCTAssertGreaterThan(rejected, 100)
    }
}
