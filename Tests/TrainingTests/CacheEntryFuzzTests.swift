import Checkpoints
import Foundation
import Tensors
import XCTest
#if canImport(Glibc)
import Glibc
#endif
@testable import Training

/// Seeded mutation fuzzing of embedding-cache entry decoding: mutants of entries the cache writes
/// (bit flips, truncation, inserted or deleted runs, header fields such as rank, shape and payload
/// size set to boundary values or multiplied; half of them with the payload checksum fixed up so
/// that decoding goes past it) must decode or throw a `CheckpointError` naming the file, never
/// trap; a decoded tensor holds no more values than the entry has payload bytes.
///
/// Measured on the CI machine (2-core AMD EPYC, release build): 10000 cases 0.05 s, peak RSS
/// growth under 1 MiB. (TrainingTests run three times in `scripts/test.sh`, once per BLAS kernel
/// family.)
final class CacheEntryFuzzTests: XCTestCase {
    static let cases = 10000
    /// Entries are at most a few hundred bytes; a decoder that allocated a mutated shape would exceed this.
    static let maxGrowthMiB = 16

    /// Entries of both precisions, rank 0 to 8, including an empty tensor.
    static func seeds() -> [(bytes: [UInt8], precision: EmbeddingCache.Precision, rank: Int)] {
        let shapes = [[2, 3, 5], [8], [], [0, 4], [1, 2, 1, 2, 1, 2, 1, 2]]
        return shapes.flatMap { shape in
            [EmbeddingCache.Precision.fp32, .fp16].map { precision in
                let values = (0..<shape.reduce(1, *)).map { Float($0) * 0.25 - 1 }
                return ([UInt8](EmbeddingCache.encode(Tensor(shape: shape, data: values), precision)), precision, shape.count)
            }
        }
    }

    /// The header fields after the 8-byte magic.
    static func fields(rank: Int) -> [FuzzField] {
        [FuzzField(name: "dtype", offset: 8, width: 4), FuzzField(name: "rank", offset: 12, width: 4)]
            + (0..<rank).map { FuzzField(name: "shape[\($0)]", offset: 16 + 8 * $0, width: 8) }
            + [FuzzField(name: "payload bytes", offset: 16 + 8 * rank, width: 8), FuzzField(name: "checksum", offset: 24 + 8 * rank, width: 8)]
    }

    /// `bytes` with the checksum field recomputed over what follows it (the header layout of `rank`).
    static func withValidChecksum(_ bytes: [UInt8], rank: Int) -> [UInt8] {
        let checksum = FuzzField(name: "checksum", offset: 24 + 8 * rank, width: 8)
        guard checksum.offset + 8 <= bytes.count else { return bytes }
        var out = bytes
        Mutator.store(EmbeddingCache.fnv1a(Data(bytes[(checksum.offset + 8)...])), checksum, &out)
        return out
    }

    func testEntryMutantsDecodeOrThrowTypedErrors() throws {
        let seeds = Self.seeds()
        try fuzz("cache entry", seed: 0x454D_4231, cases: Self.cases, maxGrowthMiB: Self.maxGrowthMiB, makeInput: { m in
            let seed = m.pick(seeds)
            let mutant = m.mutate(seed.bytes, fields: Self.fields(rank: seed.rank))
            return m.below(2) == 0 ? mutant : (Self.withValidChecksum(mutant.bytes, rank: seed.rank), mutant.description + ", checksum fixed")
        }, isExpected: { ($0 as? CheckpointError)?.file == "fuzz.emb" }) { bytes, label in
            // An entry is valid for at most one precision; both are tried.
            var failure: Error?
            for precision in [EmbeddingCache.Precision.fp32, .fp16] {
                do {
                    let tensor = try EmbeddingCache.decodeEntry(Data(bytes), precision, file: "fuzz.emb")
                    XCTAssertLessThanOrEqual(tensor.count * precision.byteWidth, bytes.count, label)
                    return
                } catch { failure = error }
            }
            throw failure ?? CheckpointError(file: "fuzz.emb", "no precision tried")
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

/// Crafted cache entries that once trapped in `EmbeddingCache.decode`, rebuilt in code.
final class CacheEntryCrashCorpusTests: XCTestCase {
    /// An fp32 entry header of `shape` with an empty payload.
    private func entry(shape: [UInt64]) -> Data {
        var bytes = Array("ASEMB1".utf8) + [0, 0]
        let put = { (value: UInt64, width: Int) in bytes += (0..<width).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
        put(0, 4)
        put(UInt64(shape.count), 4)
        shape.forEach { put($0, 8) }
        put(0, 8)
        put(EmbeddingCache.fnv1a(Data()), 8)
        return Data(bytes)
    }

    /// Eight sizes of 2^31 each (every one below the 2^32 limit) overflowed the element count.
    func testShapeProductOverflow() throws {
        let crafted = entry(shape: [UInt64](repeating: 1 << 31, count: 8))
        XCTAssertThrowsError(try EmbeddingCache.decodeEntry(crafted, .fp32, file: "crafted.emb")) { error in
            XCTAssertEqual(error as? CheckpointError,
                           CheckpointError(file: "crafted.emb", "entry shape \([Int](repeating: 1 << 31, count: 8)) has more than 2^63 elements"))
        }
        XCTAssertThrowsError(try EmbeddingCache.decodeEntry(entry(shape: [1 << 40]), .fp32, file: "wide.emb")) { error in
            XCTAssertEqual(error as? CheckpointError, CheckpointError(file: "wide.emb", "entry shape[0] is \(1 << 40), expected at most 4294967295"))
        }
        // Read through the cache, the crafted entry is a rejected miss.
        let cache = try EmbeddingCache(root: FileManager.default.temporaryDirectory.appendingPathComponent("cache-\(UUID().uuidString)"),
                                       folderKey: "enc")
        defer { try? FileManager.default.removeItem(at: cache.directory.deletingLastPathComponent()) }
        try crafted.write(to: cache.url(for: "k", .fp32))
        XCTAssertNil(cache.load("k", .fp32))
        XCTAssertEqual(cache.rejected, 1)
    }
}
