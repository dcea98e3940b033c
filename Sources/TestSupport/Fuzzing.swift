import Foundation
import Tensors
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The seeded mutation fuzzing harness shared by the parser fuzz tests (Datasets, TensorFiles,
/// embedding-cache entries): `Mutator` makes reproducible mutants, `XCTestCase.fuzz` runs a
/// family of cases with a peak-memory bound, `CrashReport` names the case when one traps.

/// A fixed-width header field that mutations overwrite with boundary values or inflate.
public struct FuzzField {
    public let name: String
    public let offset: Int
    /// 1 to 8 bytes.
    public let width: Int
    public var bigEndian = false
    /// An IEEE float (width 4 or 8) rather than an integer.
    public var isFloat = false

    public init(name: String, offset: Int, width: Int, bigEndian: Bool = false, isFloat: Bool = false) {
        (self.name, self.offset, self.width, self.bigEndian, self.isFloat) = (name, offset, width, bigEndian, isFloat)
    }
}

/// The mutations of one fuzz case, a pure function of (seed, case index) through the counter-based
/// RNG: a failing case is rebuilt from the two numbers printed with it.
public struct Mutator {
    private let rng: CounterRNG
    private var draws: UInt64 = 0

    public init(seed: UInt64, index: Int) { rng = CounterRNG(seed: seed).substream(UInt64(index)) }

    public static let integers: [Int64] = [0, 1, -1, 2, 255, 256, 32767, -32768, 65535, 1 << 16, Int64(Int32.max),
                                    Int64(Int32.min), Int64(UInt32.max), 1 << 32, 1 << 40, Int64.max, Int64.min]
    public static let floats: [Double] = [0, -1, 0.5, 351, 352.5, 1e30, -1e30, .nan, .infinity, -.infinity, 3e9,
                                   Double(Float.greatestFiniteMagnitude), 1e300]
    public static let factors: [Int64] = [2, 3, 16, 1000, 1 << 16, 1 << 31]

    /// A uniform integer in 0..<n.
    public mutating func below(_ n: Int) -> Int {
        defer { draws += 1 }
        return Int(rng.bits(draws)) % n
    }

    public mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }

    /// `seed` after one to three mutations, and what they were.
    public mutating func mutate(_ seed: [UInt8], fields: [FuzzField]) -> (bytes: [UInt8], description: String) {
        var bytes = seed
        let steps = (0...below(3)).map { _ in
            mutateOnce(&bytes, fields: fields.filter { $0.offset + $0.width <= bytes.count })
        }
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
            let field = FuzzField(name: "bytes", offset: below(bytes.count), width: pick([1, 2, 4, 8]),
                                  bigEndian: below(2) == 0)
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
            let decoded = field.width == 4 ? Double(Float(bitPattern: UInt32(old))) : Double(bitPattern: old)
            let value = decoded * Double(factor)
            Self.store(field.width == 4 ? UInt64(Float(value).bitPattern) : value.bitPattern, field, &bytes)
        } else {
            Self.store(old &* UInt64(factor), field, &bytes)
        }
        return "\(field.name) x \(factor)"
    }

    public static func load(_ field: FuzzField, _ bytes: [UInt8]) -> UInt64 {
        (0..<field.width).reduce(0) { value, i in
            value | UInt64(bytes[field.offset + (field.bigEndian ? field.width - 1 - i : i)]) << (8 * i)
        }
    }

    public static func store(_ value: UInt64, _ field: FuzzField, _ bytes: inout [UInt8]) {
        for i in 0..<field.width {
            let position = field.offset + (field.bigEndian ? field.width - 1 - i : i)
            bytes[position] = UInt8(truncatingIfNeeded: value >> (8 * i))
        }
    }
}

/// Names the running fuzz case on stderr when the process dies of a trap (SIGILL, SIGTRAP), an
/// abort or a stack overflow (SIGSEGV, SIGBUS: the handler runs on an alternate stack), then hands
/// the signal back to the previous handler (the Swift runtime's backtracer).
public enum CrashReport {
    private static let capacity = 1024
    private static let text: UnsafeMutablePointer<CChar> = {
        let p = UnsafeMutablePointer<CChar>.allocate(capacity: capacity)
        p.initialize(repeating: 0, count: capacity)
        return p
    }()
    private static let previous = UnsafeMutablePointer<sigaction>.allocate(capacity: 64)   // standard signals are < 32
    private static let installed: Void = install()

    /// The case printed if the process dies before the next call (nil: nothing).
    public static func running(_ label: String?) {
        _ = installed
        let bytes = label.map {
            Array("\nfuzz case running when the process died: \($0)\n".utf8.prefix(capacity - 1))
        } ?? []
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
public enum PeakMemory {
    public static func reset() -> Int {
        if let file = FileHandle(forWritingAtPath: "/proc/self/clear_refs") {
            file.write(Data("5".utf8))
            try? file.close()
        }
        return kib()
    }

    public static func kib() -> Int {
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
    public func fuzz(_ family: String, seed: UInt64, cases: Int, maxGrowthMiB: Int,
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
