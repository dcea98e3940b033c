import Foundation

/// Finds where the arguments of every `_rebuild_tensor_v2` call sit in a torch pickle, so tests can
/// patch a real checkpoint in place. It walks the opcodes with a symbolic stack that keeps only
/// integer literals (with their byte positions), tuples, globals and persistent ids; nothing is
/// built. Only the opcodes `torch.save` emits are known (fixtures README, "`.pth` layout").
struct PickleScanner {
    /// An integer literal (BININT1, BININT2, BININT or LONG1): its value and the byte range of its
    /// little-endian argument.
    struct IntLiteral {
        let opcode: UInt8
        let value: Int
        let argument: Range<Int>

        /// `value` encoded in this literal's argument bytes, or nil if it does not fit.
        func encoded(_ value: Int) -> [UInt8]? {
            let width = argument.count, signed = opcode == 0x4A || opcode == 0x8A
            let fits = signed
                ? width >= 8 || (-(1 << (8 * width - 1)) ..< 1 << (8 * width - 1)).contains(value)
                : value >= 0 && (width >= 8 || value < 1 << (8 * width))
            return fits ? (0..<width).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } : nil
        }
    }

    /// One `_rebuild_tensor_v2(storage, storage_offset, size, stride, ...)` call.
    struct TensorCall {
        /// The element count of the storage's persistent id `('storage', class, key, location, numel)`.
        let numel: IntLiteral
        let size: [IntLiteral]
        let stride: [IntLiteral]
        /// Byte offset of the REDUCE opcode that makes the call.
        let reduce: Int
    }

    /// A pickle this scanner cannot follow.
    struct ScanError: Error, CustomStringConvertible {
        let message: String
        var description: String { "PickleScanner: \(message)" }
    }

    private indirect enum Item {
        case int(IntLiteral)
        case tuple([Item])
        case global(String)
        case persistentID(Item)
        case other
    }

    private let bytes: [UInt8]
    private var position = 0
    private var stack: [Item] = []
    private var marks: [Int] = []
    private var memo: [Int: Item] = [:]
    private var calls: [TensorCall] = []

    /// The tensor calls of `pickle` in file order (state-dict order for a `torch.save` state dict).
    static func tensorCalls(in pickle: [UInt8]) throws -> [TensorCall] {
        var scanner = PickleScanner(bytes: pickle)
        try scanner.run()
        return scanner.calls
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    private mutating func run() throws {
        while position < bytes.count {
            let start = position, op = bytes[position]
            position += 1
            switch op {
            case 0x2E: return                                                              // STOP
            case 0x80: _ = argument(1)                                                     // PROTO
            case 0x28: marks.append(stack.count)                                           // MARK
            case 0x74: stack.append(.tuple(popMark()))                                     // TUPLE
            case 0x29: stack.append(.tuple([]))                                            // EMPTY_TUPLE
            case 0x85, 0x86, 0x87: stack.append(.tuple(pop(Int(op) - 0x84)))               // TUPLE1-3
            case 0x4B, 0x4D, 0x4A: stack.append(.int(integer(op, width: op == 0x4B ? 1 : op == 0x4D ? 2 : 4)))
            case 0x8A: stack.append(.int(integer(op, width: argument(1).value)))           // LONG1
            case 0x58: position += argument(4).value; stack.append(.other)                 // BINUNICODE
            case 0x63: stack.append(.global(line() + " " + line()))                        // GLOBAL
            case 0x71, 0x72: memo[argument(op == 0x71 ? 1 : 4).value] = stack.last         // BINPUT, LONG_BINPUT
            case 0x68, 0x6A: stack.append(try memoized(argument(op == 0x68 ? 1 : 4).value)) // BINGET, LONG_BINGET
            case 0x51: stack.append(.persistentID(pop(1)[0]))                              // BINPERSID
            case 0x52: try reduce(pop(2), at: start)                                       // REDUCE
            case 0x4E, 0x88, 0x89, 0x7D, 0x5D: stack.append(.other)                        // None, bools, {}, []
            case 0x73: _ = pop(2)                                                          // SETITEM
            case 0x75: _ = popMark()                                                       // SETITEMS
            case 0x62: _ = pop(1)                                                          // BUILD (keeps its target)
            default: throw ScanError(message: "opcode 0x\(String(op, radix: 16)) at byte \(start) is not handled")
            }
        }
    }

    /// The `count` argument bytes after the opcode as an unsigned little-endian number.
    private mutating func argument(_ count: Int) -> (value: Int, range: Range<Int>) {
        let range = position ..< position + count
        position += count
        return (range.reversed().reduce(0) { $0 << 8 | Int(bytes[$1]) }, range)
    }

    /// An integer literal of `width` argument bytes (signed for BININT and LONG1).
    private mutating func integer(_ op: UInt8, width: Int) -> IntLiteral {
        let (raw, range) = argument(width)
        let shift = 64 - 8 * width
        let value = op == 0x4B || op == 0x4D || width == 0
            ? raw : Int((Int64(truncatingIfNeeded: raw) << shift) >> shift)
        return IntLiteral(opcode: op, value: value, argument: range)
    }

    /// A newline-terminated GLOBAL argument.
    private mutating func line() -> String {
        let end = bytes[position...].firstIndex(of: 0x0A) ?? bytes.count
        defer { position = end + 1 }
        return String(decoding: bytes[position ..< end], as: UTF8.self)
    }

    private mutating func pop(_ count: Int) -> [Item] {
        defer { stack.removeLast(count) }
        return Array(stack.suffix(count))
    }

    private mutating func popMark() -> [Item] {
        pop(stack.count - marks.removeLast())
    }

    private func memoized(_ index: Int) throws -> Item {
        guard let item = memo[index] else { throw ScanError(message: "memo \(index) was never stored") }
        return item
    }

    /// Records a `_rebuild_tensor_v2` call; every call's result is opaque.
    private mutating func reduce(_ parts: [Item], at offset: Int) throws {
        defer { stack.append(.other) }
        guard case .global("torch._utils _rebuild_tensor_v2") = parts[0] else { return }
        guard case let .tuple(args) = parts[1], args.count >= 4, case let .persistentID(.tuple(pid)) = args[0],
              pid.count == 5, case let .int(numel) = pid[4], let size = Self.integers(args[2]),
              let stride = Self.integers(args[3]) else {
            throw ScanError(message: "unexpected _rebuild_tensor_v2 arguments at byte \(offset)")
        }
        calls.append(TensorCall(numel: numel, size: size, stride: stride, reduce: offset))
    }

    /// The literals of a tuple of integer literals.
    private static func integers(_ item: Item) -> [IntLiteral]? {
        guard case let .tuple(items) = item else { return nil }
        let literals = items.compactMap { item -> IntLiteral? in
            guard case let .int(literal) = item else { return nil }
            return literal
        }
        return literals.count == items.count ? literals : nil
    }
}
