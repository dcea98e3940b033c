import Foundation
import Tensors
import TestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif
@testable import Checkpoints

/// Seeded mutation fuzzing of the checkpoint readers: safetensors (in memory), the restricted
/// unpickler on `data.pkl` (in memory) and whole `.pth` archives (ZIP + pickle, from a file).
/// Mutants of valid files (bit flips, truncation, inserted or deleted runs, boundary values and
/// multiplied values in ZIP header fields, pickle integer literals and JSON header numbers) must
/// be read or throw a `CheckpointError` naming the file, never trap; every tensor read holds no
/// more elements than the file has bytes, and each family's peak RSS grows by less than
/// `maxGrowthMiB`.
///
/// Measured on the CI machine (2-core AMD EPYC, release build): safetensors 20000 cases 0.6 s,
/// pickle 10000 cases 1.6 s, .pth 4000 cases 1.3 s (each written to a file and mapped); peak
/// RSS grew by under 1 MiB per family.
final class CheckpointFuzzTests: TemporaryDirectoryTestCase {
    static let safetensorsCases = 20000
    static let pickleCases = 10000
    static let pthCases = 4000
    /// The largest seed is tiny_sam.pth (0.9 MB, mapped) and its tensors convert to about 1 MB,
    /// so a reader that allocated what a mutated size, stride, numel or shape claims would exceed this.
    static let maxGrowthMiB = 16

    static func isInteger(_ dtype: DType) -> Bool { ![.f32, .f64, .f16, .bf16].contains(dtype) }

    // MARK: safetensors

    /// Files the writer makes (every dtype, a 0-dim and an empty tensor, metadata) and two fixtures.
    func safetensorsSeeds() throws -> [[UInt8]] {
        let floats = directory.appendingPathComponent("floats.safetensors"), mixed = directory.appendingPathComponent("mixed.safetensors")
        try SafeTensorsFile.write([("w", Tensor(shape: [3, 4], data: (0..<12).map(Float.init))), ("b", Tensor(shape: [4], data: [1, -2, 3, 4]))],
                                  metadata: ["format": "pt"], to: floats)
        try SafeTensorsFile.write([(name: "h", dtype: .f16, shape: [2, 2], bytes: Data(littleEndianBytes([UInt16](repeating: 0x3C00, count: 4)))),
                                   (name: "i", dtype: .i64, shape: [3], bytes: Data(littleEndianBytes([Int64(-1), 0, 7]))),
                                   (name: "e", dtype: .u8, shape: [0, 5], bytes: Data()),
                                   (name: "s", dtype: .f64, shape: [], bytes: Data(littleEndianBytes([Double(2.5).bitPattern]))),
                                   (name: "bf", dtype: .bf16, shape: [1], bytes: Data([0x80, 0x3F])),
                                   (name: "q", dtype: .bool, shape: [2], bytes: Data([0, 1]))], to: mixed)
        let urls = [floats, mixed, Fixtures.url("pth_variants_expected.safetensors"), Fixtures.url("dice_loss_unit.safetensors")]
        return try urls.map { [UInt8](try Data(contentsOf: $0)) }
    }

    /// Texts that replace a number, or a dtype, of a safetensors JSON header.
    static let numberTexts = ["0", "-1", "1.5", "1e30", "NaN", "4294967296", "9223372036854775807", "9223372036854775808",
                              "18446744073709551616", "1e400", "null", "[]", "[1, 2]", "\"7\""]
    static let dtypeTexts = DType.allCases.map { "\"\($0.rawValue)\"" } + ["\"F8_E4M3\"", "\"\"", "7"]

    /// Byte ranges of the numbers (runs of digits and minus signs) and the quoted dtype names of a header.
    static func headerTokens(_ header: [UInt8]) -> (numbers: [Range<Int>], dtypes: [Range<Int>]) {
        var numbers: [Range<Int>] = [], dtypes: [Range<Int>] = []
        var i = 0
        while i < header.count {
            let isNumber = { (b: UInt8) in (0x30...0x39).contains(b) || b == 0x2D }
            if header[i] == 0x22, let close = header[(i + 1)...].firstIndex(of: 0x22) {
                if DType(rawValue: String(decoding: header[(i + 1) ..< close], as: UTF8.self)) != nil { dtypes.append(i ..< close + 1) }
                i = close + 1
            } else if isNumber(header[i]) {
                let end = header[i...].firstIndex { !isNumber($0) } ?? header.count
                numbers.append(i ..< end)
                i = end
            } else {
                i += 1
            }
        }
        return (numbers, dtypes)
    }

    /// A safetensors mutant: usually a number or dtype of the JSON header replaced (the header
    /// length fixed up so the JSON is read), and half the time byte mutations on top.
    static func safetensorsInput(_ m: inout Mutator, seeds: [[UInt8]]) -> (bytes: [UInt8], description: String) {
        var bytes = m.pick(seeds)
        var steps: [String] = []
        let lengthField = FuzzField(name: "header length", offset: 0, width: 8)
        let length = Int(Mutator.load(lengthField, bytes))
        let tokens = headerTokens(Array(bytes[8 ..< 8 + length]))
        if m.below(4) != 0, !tokens.numbers.isEmpty {
            let isDtype = m.below(4) == 0 && !tokens.dtypes.isEmpty
            let range = isDtype ? m.pick(tokens.dtypes) : m.pick(tokens.numbers)
            let text = isDtype ? m.pick(dtypeTexts) : m.pick(numberTexts)
            steps.append("header bytes \(range) = \(text)")
            bytes.replaceSubrange(8 + range.lowerBound ..< 8 + range.upperBound, with: Array(text.utf8))
            Mutator.store(UInt64(length - range.count + text.utf8.count), lengthField, &bytes)
        }
        if steps.isEmpty || m.below(2) == 0 {
            let mutant = m.mutate(bytes, fields: [lengthField])
            (bytes, steps) = (mutant.bytes, steps + [mutant.description])
        }
        return (bytes, steps.joined(separator: ", "))
    }

    func testSafetensorsMutantsReadOrThrowTypedErrors() throws {
        let seeds = try safetensorsSeeds()
        try fuzz("safetensors", seed: 0x5354_3031, cases: Self.safetensorsCases, maxGrowthMiB: Self.maxGrowthMiB, makeInput: { m in
            Self.safetensorsInput(&m, seeds: seeds)
        }, isExpected: { ($0 as? CheckpointError)?.file == "fuzz.safetensors" }) { bytes, label in
            let file = try SafeTensorsFile(bytes: Data(bytes), path: "fuzz.safetensors")
            for name in file.names {
                let entry = try file.entry(name)
                XCTAssertEqual(try file.tensor(name).data.count, entry.count, label)
                XCTAssertLessThanOrEqual(entry.count, bytes.count, label)
                _ = try file.doubles(name)
                if Self.isInteger(entry.dtype) { XCTAssertEqual(try file.integers(name).count, entry.count, label) }
            }
        }
    }

    // MARK: pickle

    /// The integer literals of every `_rebuild_tensor_v2` call (storage numel, sizes, strides) as
    /// fields, at `base` + their offset in the pickle.
    static func literalFields(_ pickle: [UInt8], base: Int = 0) throws -> [FuzzField] {
        try PickleScanner.tensorCalls(in: pickle).flatMap { call in
            [("numel", [call.numel]), ("size", call.size), ("stride", call.stride)].flatMap { name, literals in
                literals.map { FuzzField(name: name, offset: base + $0.argument.lowerBound, width: $0.argument.count) }
            }
        }
    }

    /// The `data.pkl` of both `.pth` fixtures and a hand-written state dict (a float16 parameter
    /// view with an offset, torch 2's extra argument), each with its literals as fields.
    static func pickleSeeds() throws -> [(bytes: [UInt8], fields: [FuzzField])] {
        var pickles = try ["tiny_sam.pth", "pth_variants.pth"].map { name in
            let pth = try PthCheckpoint(contentsOf: Fixtures.url(name))
            return Array(try pth.archive.contents(of: pth.prefix + "data.pkl"))
        }
        pickles.append(PickleWriter.stateDict([
            TensorSpec(key: "a", numel: 6, shape: [2, 3], strides: [3, 1]),
            TensorSpec(key: "b", storageClass: "HalfStorage", storageKey: "1", numel: 4, offset: 1, shape: [3], strides: [1],
                       parameter: true, extraArgument: true),
        ]))
        return try pickles.map { ($0, try literalFields($0)) }
    }

    func testPickleMutantsLoadOrThrowTypedErrors() throws {
        let seeds = try Self.pickleSeeds()
        try fuzz("pickle", seed: 0x504B_4C31, cases: Self.pickleCases, maxGrowthMiB: Self.maxGrowthMiB, makeInput: { m in
            let seed = m.pick(seeds)
            return m.mutate(seed.bytes, fields: seed.fields)
        }, isExpected: { ($0 as? CheckpointError)?.file == "fuzz.pkl" }) { bytes, label in
            let tensors = try bytes.withUnsafeBytes { raw in
                var unpickler = Unpickler(bytes: raw, file: "fuzz.pkl")
                return try unpickler.load { try PthCheckpoint.stateDict($0, path: "fuzz.pkl") }
            }
            XCTAssertLessThanOrEqual(tensors.count, bytes.count, label)
            for (key, layout) in tensors { XCTAssertLessThanOrEqual(layout.count, layout.storage.numel, "\(label): \(key)") }
        }
    }

    // MARK: .pth archives

    /// The ZIP fields of an archive: the end record's counts, size and offset, and for every
    /// entry the central header's flags, method, sizes, name/extra lengths and local header
    /// offset, and the local header's name and extra lengths.
    static func zipFields(_ bytes: [UInt8], archive: ZipArchive) -> [FuzzField] {
        let field = { (name: String, offset: Int, width: Int) in FuzzField(name: name, offset: offset, width: width) }
        guard let eocd = (0...(bytes.count - 22)).reversed().first(where: { Mutator.load(field("", $0, 4), bytes) == 0x0605_4B50 }) else { return [] }
        var fields = [field("end entries", eocd + 8, 2), field("end total entries", eocd + 10, 2),
                      field("end directory size", eocd + 12, 4), field("end directory offset", eocd + 16, 4)]
        for entry in archive.entries {
            let local = entry.localHeaderOffset
            fields += [field("local name length", local + 26, 2), field("local extra length", local + 28, 2)]
        }
        var at = (0..<eocd).first { Mutator.load(field("", $0, 4), bytes) == 0x0201_4B50 } ?? eocd
        while at + 46 <= eocd, Mutator.load(field("", at, 4), bytes) == 0x0201_4B50 {
            fields += [("flags", 8, 2), ("method", 10, 2), ("compressed size", 20, 4), ("uncompressed size", 24, 4),
                       ("name length", 28, 2), ("extra length", 30, 2), ("local offset", 42, 4)].map { field("central " + $0.0, at + $0.1, $0.2) }
            let lengths = [28, 30, 32].map { Int(Mutator.load(field("", at + $0, 2), bytes)) }
            at += 46 + lengths.reduce(0, +)
        }
        return fields
    }

    /// Both `.pth` fixtures and a Zip64 archive, each with its ZIP fields and its pickle's literals.
    func pthSeeds() throws -> [(bytes: [UInt8], fields: [FuzzField])] {
        let zip64 = try writePth(PickleWriter.stateDict([TensorSpec(key: "w", numel: 4, shape: [2, 2], strides: [2, 1])]),
                                 storages: [("0", floatBytes([1, 2, 3, 4]))], zip64: true, name: "zip64.pth")
        return try [Fixtures.url("tiny_sam.pth"), Fixtures.url("pth_variants.pth"), zip64].map { url in
            let pth = try PthCheckpoint(contentsOf: url)
            let bytes = [UInt8](try Data(contentsOf: url))
            let pickle = try XCTUnwrap(pth.archive.entry(pth.prefix + "data.pkl"))
            let literals = try Self.literalFields(Array(try pth.archive.contents(of: pickle)), base: pickle.dataOffset)
            return (bytes, Self.zipFields(bytes, archive: pth.archive) + literals)
        }
    }

    /// Replaces the file at `path` by a new one holding `bytes`, without the fsync of `Data.write`
    /// (a thousand fsyncs take seconds).
    static func write(_ bytes: [UInt8], to path: String) throws {
        unlink(path)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        defer { close(fd) }
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else { throw POSIXError(.EIO) }
    }

    func testPthMutantsReadOrThrowTypedErrors() throws {
        let seeds = try pthSeeds()
        let url = directory.appendingPathComponent("fuzz.pth")
        try fuzz("pth", seed: 0x5054_4831, cases: Self.pthCases, maxGrowthMiB: Self.maxGrowthMiB, makeInput: { m in
            let seed = m.pick(seeds)
            return m.mutate(seed.bytes, fields: seed.fields)
        }, isExpected: { ($0 as? CheckpointError)?.file.hasPrefix(url.path) == true }) { bytes, label in
            try Self.write(bytes, to: url.path)
            let archive = try TensorArchives.open(url)
            for info in try archive.infos() {
                XCTAssertEqual(try archive.tensor(info.name).data.count, info.count, label)
                XCTAssertLessThanOrEqual(info.count, bytes.count, label)
                if Self.isInteger(info.dtype) { XCTAssertEqual(try archive.integers(info.name).count, info.count, label) }
            }
        }
    }
}

// MARK: - Fuzz harness
// The same harness is in DatasetsTests/FuzzTests.swift, CheckpointsTests/FuzzTests.swift and
// TrainingTests/CacheEntryFuzzTests.swift: test targets can share code only through TestSupport.

/// A fixed-width header field that mutations overwrite with boundary values or inflate.
struct FuzzField {
    let name: String
    let offset: Int
    /// 1 to 8 bytes.
    let width: Int
    var bigEndian = false
    /// An IEEE float (width 4 or 8) rather than an integer.
    var isFloat = false
}

/// The mutations of one fuzz case, a pure function of (seed, case index) through the counter-based
/// RNG: a failing case is rebuilt from the two numbers printed with it.
struct Mutator {
    private let rng: CounterRNG
    private var draws: UInt64 = 0

    init(seed: UInt64, index: Int) { rng = CounterRNG(seed: seed).substream(UInt64(index)) }

    static let integers: [Int64] = [0, 1, -1, 2, 255, 256, 32767, -32768, 65535, 1 << 16, Int64(Int32.max),
                                    Int64(Int32.min), Int64(UInt32.max), 1 << 32, 1 << 40, Int64.max, Int64.min]
    static let floats: [Double] = [0, -1, 0.5, 351, 352.5, 1e30, -1e30, .nan, .infinity, -.infinity, 3e9,
                                   Double(Float.greatestFiniteMagnitude), 1e300]
    static let factors: [Int64] = [2, 3, 16, 1000, 1 << 16, 1 << 31]

    /// A uniform integer in 0..<n.
    mutating func below(_ n: Int) -> Int {
        defer { draws += 1 }
        return Int(rng.bits(draws)) % n
    }

    mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }

    /// `seed` after one to three mutations, and what they were.
    mutating func mutate(_ seed: [UInt8], fields: [FuzzField]) -> (bytes: [UInt8], description: String) {
        var bytes = seed
        let steps = (0...below(3)).map { _ in mutateOnce(&bytes, fields: fields.filter { $0.offset + $0.width <= bytes.count }) }
        return (bytes, steps.joined(separator: ", "))
    }

    private mutating func mutateOnce(_ bytes: inout [UInt8], fields: [FuzzField]) -> String {
        guard !bytes.isEmpty else { return "empty" }
        switch below(fields.isEmpty ? 4 : 6) {
        case 0:
            let flips = 1 + below(8)
            for _ in 0..<flips { bytes[below(bytes.count)] ^= 1 << below(8) }
            return "\(flips) bit flips"
        case 1:
            let length = below(bytes.count)
            bytes.removeSubrange(length...)
            return "truncated to \(length) bytes"
        case 2:
            let field = FuzzField(name: "bytes", offset: below(bytes.count), width: pick([1, 2, 4, 8]), bigEndian: below(2) == 0)
            guard field.offset + field.width <= bytes.count else { return "no overwrite" }
            return overwrite(&bytes, field)
        case 3:
            let at = below(bytes.count), count = 1 + below(64)
            if below(2) == 0 {
                bytes.insert(contentsOf: [UInt8](repeating: pick([0, 0xFF, bytes[at]]), count: count), at: at)
                return "\(count) bytes inserted at \(at)"
            }
            bytes.removeSubrange(at ..< min(bytes.count, at + count))
            return "\(count) bytes deleted at \(at)"
        case 4:
            return overwrite(&bytes, pick(fields))
        default:
            return inflate(&bytes, pick(fields))
        }
    }

    /// `field` set to a boundary value.
    private mutating func overwrite(_ bytes: inout [UInt8], _ field: FuzzField) -> String {
        if field.isFloat {
            let value = pick(Self.floats)
            Self.store(field.width == 4 ? UInt64(Float(value).bitPattern) : value.bitPattern, field, &bytes)
            return "\(field.name) = \(value)"
        }
        let value = pick(Self.integers)
        Self.store(UInt64(bitPattern: value), field, &bytes)
        return "\(field.name) = \(value)"
    }

    /// `field` multiplied (lengths, sizes and counts inflated; integers wrap at the field width).
    private mutating func inflate(_ bytes: inout [UInt8], _ field: FuzzField) -> String {
        let factor = pick(Self.factors)
        let old = Self.load(field, bytes)
        if field.isFloat {
            let value = (field.width == 4 ? Double(Float(bitPattern: UInt32(old))) : Double(bitPattern: old)) * Double(factor)
            Self.store(field.width == 4 ? UInt64(Float(value).bitPattern) : value.bitPattern, field, &bytes)
        } else {
            Self.store(old &* UInt64(factor), field, &bytes)
        }
        return "\(field.name) x \(factor)"
    }

    static func load(_ field: FuzzField, _ bytes: [UInt8]) -> UInt64 {
        (0..<field.width).reduce(0) { value, i in
            value | UInt64(bytes[field.offset + (field.bigEndian ? field.width - 1 - i : i)]) << (8 * i)
        }
    }

    static func store(_ value: UInt64, _ field: FuzzField, _ bytes: inout [UInt8]) {
        for i in 0..<field.width {
            bytes[field.offset + (field.bigEndian ? field.width - 1 - i : i)] = UInt8(truncatingIfNeeded: value >> (8 * i))
        }
    }
}

/// Names the running fuzz case on stderr when the process dies of a trap (SIGILL, SIGTRAP), an
/// abort or a stack overflow (SIGSEGV, SIGBUS: the handler runs on an alternate stack), then hands
/// the signal back to the previous handler (the Swift runtime's backtracer).
enum CrashReport {
    private static let capacity = 1024
    private static let text: UnsafeMutablePointer<CChar> = {
        let p = UnsafeMutablePointer<CChar>.allocate(capacity: capacity)
        p.initialize(repeating: 0, count: capacity)
        return p
    }()
    private static let previous = UnsafeMutablePointer<sigaction>.allocate(capacity: 64)   // standard signals are < 32
    private static let installed: Void = install()

    /// The case printed if the process dies before the next call (nil: nothing).
    static func running(_ label: String?) {
        _ = installed
        let bytes = label.map { Array("\nfuzz case running when the process died: \($0)\n".utf8.prefix(capacity - 1)) } ?? []
        for (i, byte) in bytes.enumerated() { text[i] = CChar(bitPattern: byte) }
        text[bytes.count] = 0
    }

    private static func install() {
        var current = stack_t()
        sigaltstack(nil, &current)
        if current.ss_flags & Int32(SS_DISABLE) != 0 {
            var stack = stack_t()
            stack.ss_size = 1 << 18
            stack.ss_sp = UnsafeMutableRawPointer.allocate(byteCount: stack.ss_size, alignment: 16)
            sigaltstack(&stack, nil)
        }
        for signal in [SIGILL, SIGTRAP, SIGABRT, SIGSEGV, SIGBUS, SIGFPE] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { signal in
                write(2, CrashReport.text, strlen(CrashReport.text))
                sigaction(signal, CrashReport.previous + Int(signal), nil)   // returning re-raises to it
            }
            action.sa_flags = Int32(SA_ONSTACK)
            sigaction(signal, &action, previous + Int(signal))
        }
    }
}

/// Peak resident memory in KiB (getrusage's ru_maxrss). `reset` first lowers the peak to the
/// current RSS (Linux: "5" to /proc/self/clear_refs), so growth measures what runs afterwards and
/// not an earlier test's peak; where that file cannot be written the check is only weaker.
enum PeakMemory {
    static func reset() -> Int {
        if let file = FileHandle(forWritingAtPath: "/proc/self/clear_refs") {
            file.write(Data("5".utf8))
            try? file.close()
        }
        return kib()
    }

    static func kib() -> Int {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return usage.ru_maxrss
    }
}

extension XCTestCase {
    /// Runs `cases` fuzz cases of one parser family. `makeInput` builds case `index` from its
    /// `Mutator` and describes it; `parse` must return (checking its own bounds on the result) or
    /// throw an error that `isExpected` accepts, and never trap (a trap prints the case, see
    /// `CrashReport`). The family's peak RSS may grow by at most `maxGrowthMiB`, and some mutants
    /// must be read (a run that rejects everything would test nothing past the first check).
    func fuzz(_ family: String, seed: UInt64, cases: Int, maxGrowthMiB: Int,
              makeInput: (inout Mutator) throws -> (bytes: [UInt8], description: String),
              isExpected: (Error) -> Bool, parse: (_ bytes: [UInt8], _ label: String) throws -> Void) throws {
        let start = Date(), baseline = PeakMemory.reset()
        var accepted = 0
        for index in 0..<cases {
            var mutator = Mutator(seed: seed, index: index)
            let input = try makeInput(&mutator)
            let label = "\(family) seed 0x\(String(seed, radix: 16)) case \(index): \(input.description)"
            CrashReport.running(label)
            do {
                try parse(input.bytes, label)
                accepted += 1
            } catch where isExpected(error) {} catch {
                XCTFail("\(label): unexpected error \(type(of: error)): \(error)")
            }
        }
        CrashReport.running(nil)
        let growth = PeakMemory.kib() - baseline
        print("fuzz \(family): \(cases) cases (\(accepted) read, \(cases - accepted) rejected) in "
              + "\(String(format: "%.2f", Date().timeIntervalSince(start))) s, peak RSS +\(growth) KiB")
        XCTAssertGreaterThan(accepted, 0, "\(family): no mutant was read; the seeds or the mutations are broken")
        XCTAssertLessThanOrEqual(growth, maxGrowthMiB * 1024, "\(family): peak RSS grew by \(growth) KiB")
    }
}

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
        assertFails(["/dev/zero: not a regular file"]) { try PthCheckpoint(contentsOf: URL(fileURLWithPath: "/dev/zero")) }
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
