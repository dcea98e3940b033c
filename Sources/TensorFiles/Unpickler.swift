/// A restricted unpickler for the pickles inside `.pth` archives (protocol 2, reading protocols up
/// to 5). It implements only the opcodes `torch.save` emits plus a few harmless ones, resolves
/// only the globals in `TorchGlobal`, and applies them itself: no code from the file ever runs.
/// Anything else fails with the opcode or global and its byte offset.
///
/// ref: CPython `Lib/pickletools.py` (opcode table) and `Lib/pickle.py` (`_Unpickler.load_*`).
struct Unpickler {
    let bytes: UnsafeRawBufferPointer
    /// Name for errors, e.g. `tiny_sam.pth: tiny_sam/data.pkl`.
    let file: String
    let limits: PickleLimits
    var position = 0
    var opcodeStart = 0
    var stack: [PickleValue] = []
    var marks: [Int] = []
    var memo: [Int: PickleValue] = [:]
    var storages: [String: PthStorage] = [:]
    /// Every container created, so `load` can break cycles when it is done.
    var containers: [AnyObject] = []

    init(bytes: UnsafeRawBufferPointer, file: String, limits: PickleLimits = PickleLimits()) {
        self.bytes = bytes
        self.file = file
        self.limits = limits
    }

    /// Unpickles and hands the result to `extract`, then empties every container the pickle built
    /// (the extracted result must not keep `PickleList`/`PickleDict` references).
    mutating func load<T>(_ extract: (PickleValue) throws -> T) throws -> T {
        defer {
            for c in containers {
                (c as? PickleList)?.items.removeAll()
                (c as? PickleDict)?.removeAll()
            }
            stack.removeAll()
            memo.removeAll()
        }
        let result: PickleValue
        do {
            result = try run()
        } catch let failure as PickleFailure {
            throw CheckpointError(file: file, "byte \(opcodeStart): \(failure.message)")
        }
        return try extract(result)
    }

    private mutating func run() throws -> PickleValue {
        while position < bytes.count {
            opcodeStart = position
            let op = bytes[position]
            position += 1
            if op == 0x2E {   // STOP
                guard let top = stack.popLast() else { throw PickleFailure("STOP with an empty stack") }
                return top
            }
            try execute(op)
        }
        opcodeStart = position
        throw PickleFailure("pickle ended without STOP after \(bytes.count) bytes (truncated)")
    }

    private mutating func execute(_ op: UInt8) throws {
        if let literal = try literal(op) {
            try push(literal)
            return
        }
        switch op {
        case 0x80: // PROTO
            let version = try take(1, "PROTO")[0]
            guard version <= 5 else { throw PickleFailure("unsupported pickle protocol \(version)") }
        case 0x95: _ = try integer(UInt64.self, "FRAME")   // frame length; frames need no handling
        case 0x28: // MARK
            guard marks.count < limits.maxMarkDepth else {
                throw PickleFailure("more than \(limits.maxMarkDepth) nested MARKs")
            }
            marks.append(stack.count)
        case 0x74: let items = try popMark("TUPLE"); try push(try tuple(items))
        case 0x85, 0x86, 0x87: let items = try pop(Int(op) - 0x84, "TUPLE\(Int(op) - 0x84)"); try push(try tuple(items))
        case 0x5D: let l = PickleList(); containers.append(l); try push(.list(l))  // EMPTY_LIST
        case 0x61: let values = try pop(1, "APPEND"); try append(values)          // APPEND
        case 0x65: let values = try popMark("APPENDS"); try append(values)        // APPENDS
        case 0x7D: let d = PickleDict(); containers.append(d); try push(.dict(d))  // EMPTY_DICT
        case 0x73: let pair = try pop(2, "SETITEM"); try setItems(pair, "SETITEM") // SETITEM
        case 0x75: let items = try popMark("SETITEMS"); try setItems(items, "SETITEMS")
        case 0x71: try put(Int(try integer(UInt8.self, "BINPUT")))
        case 0x72: try put(Int(try integer(UInt32.self, "LONG_BINPUT")))
        case 0x94: try put(memo.count)                                             // MEMOIZE
        case 0x68: try get(Int(try integer(UInt8.self, "BINGET")))
        case 0x6A: try get(Int(try integer(UInt32.self, "LONG_BINGET")))
        case 0x63: // GLOBAL
            let module = try line("GLOBAL"), name = try line("GLOBAL")
            try push(try global(module: module, name: name))
        case 0x93: // STACK_GLOBAL
            let names = try pop(2, "STACK_GLOBAL")
            guard case .string(let module) = names[0], case .string(let name) = names[1] else {
                throw PickleFailure("STACK_GLOBAL needs two strings, got \(names[0].kind) and \(names[1].kind)")
            }
            try push(try global(module: module, name: name))
        case 0x52: // REDUCE
            let parts = try pop(2, "REDUCE")
            let value = try reduce(parts[0], parts[1])
            try push(value)
        case 0x62: // BUILD
            let parts = try pop(2, "BUILD")
            try push(try build(parts[0], state: parts[1]))
        case 0x51: // BINPERSID
            let pid = try pop(1, "BINPERSID")[0]
            let storage = try persistentLoad(pid)
            try push(storage)
        default:
            if let name = Unpickler.rejectedOpcodes[op] {
                throw PickleFailure("pickle opcode \(name) (0x\(hex(op))) is not allowed in a checkpoint")
            }
            throw PickleFailure("unknown pickle opcode 0x\(hex(op))")
        }
    }

    /// The value of an opcode that pushes a constant (None, bools, ints, floats, strings, the
    /// empty tuple), or nil for any other opcode.
    private mutating func literal(_ op: UInt8) throws -> PickleValue? {
        switch op {
        case 0x4E: return PickleValue.none                                       // NONE
        case 0x88, 0x89: return .bool(op == 0x88)                                // NEWTRUE, NEWFALSE
        case 0x29: return .tuple(PickleTuple([]))                                // EMPTY_TUPLE
        case 0x4A: return .int(Int(try integer(Int32.self, "BININT")))
        case 0x4B: return .int(Int(try integer(UInt8.self, "BININT1")))
        case 0x4D: return .int(Int(try integer(UInt16.self, "BININT2")))
        case 0x8A: return .int(try long1())                                      // LONG1
        case 0x47: return .float(Double(bitPattern: UInt64(bigEndian: try raw(UInt64.self, "BINFLOAT"))))
        case 0x58: return .string(try text(Int(try integer(UInt32.self, "BINUNICODE")), "BINUNICODE"))
        case 0x8C: return .string(try text(Int(try integer(UInt8.self, "SHORT_BINUNICODE")), "SHORT_BINUNICODE"))
        case 0x8D: return .string(try text(try length(UInt64.self, "BINUNICODE8"), "BINUNICODE8"))
        case 0x55: return .string(try text(Int(try integer(UInt8.self, "SHORT_BINSTRING")), "SHORT_BINSTRING"))
        case 0x54: return .string(try text(try length(Int32.self, "BINSTRING"), "BINSTRING"))
        default: return nil
        }
    }

    /// Standard opcodes this reader refuses, named for the error message.
    static let rejectedOpcodes: [UInt8: String] = [
        0x30: "POP", 0x31: "POP_MARK", 0x32: "DUP", 0x46: "FLOAT", 0x49: "INT", 0x4C: "LONG",
        0x50: "PERSID", 0x53: "STRING", 0x56: "UNICODE", 0x64: "DICT", 0x67: "GET", 0x69: "INST",
        0x6C: "LIST", 0x6F: "OBJ", 0x70: "PUT", 0x42: "BINBYTES", 0x43: "SHORT_BINBYTES",
        0x81: "NEWOBJ", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4", 0x8B: "LONG4", 0x8E: "BINBYTES8",
        0x8F: "EMPTY_SET", 0x90: "ADDITEMS", 0x91: "FROZENSET", 0x92: "NEWOBJ_EX",
        0x96: "BYTEARRAY8", 0x97: "NEXT_BUFFER", 0x98: "READONLY_BUFFER",
    ]

    // MARK: stack, mark stack and memo

    mutating func push(_ value: PickleValue) throws {
        guard stack.count < limits.maxStackDepth else {
            throw PickleFailure("stack deeper than \(limits.maxStackDepth) values")
        }
        stack.append(value)
    }

    mutating func pop(_ count: Int, _ what: String) throws -> [PickleValue] {
        let floor = marks.last ?? 0
        guard stack.count - floor >= count else {
            throw PickleFailure("\(what) needs \(count) value(s) above the mark, found \(stack.count - floor)")
        }
        defer { stack.removeLast(count) }
        return Array(stack[(stack.count - count)...])
    }

    mutating func popMark(_ what: String) throws -> [PickleValue] {
        guard let mark = marks.popLast() else { throw PickleFailure("\(what) without a MARK") }
        defer { stack.removeSubrange(mark...) }
        return Array(stack[mark...])
    }

    /// A tuple of `items`, at most `limits.maxTupleDepth` tuples deep.
    func tuple(_ items: [PickleValue]) throws -> PickleValue {
        let t = PickleTuple(items)
        guard t.depth <= limits.maxTupleDepth else {
            throw PickleFailure("tuples nested more than \(limits.maxTupleDepth) deep")
        }
        return .tuple(t)
    }

    mutating func put(_ index: Int) throws {
        guard let top = stack.last else { throw PickleFailure("memo PUT with an empty stack") }
        guard memo[index] != nil || memo.count < limits.maxMemoEntries else {
            throw PickleFailure("more than \(limits.maxMemoEntries) memo entries")
        }
        memo[index] = top
    }

    mutating func get(_ index: Int) throws {
        guard let value = memo[index] else { throw PickleFailure("memo GET of index \(index), which was never stored") }
        try push(value)
    }

    /// The value on top of the stack, above the innermost mark (APPEND and SETITEM targets).
    func top(_ what: String) throws -> PickleValue {
        guard stack.count > (marks.last ?? 0), let value = stack.last else {
            throw PickleFailure("\(what) with no target on the stack")
        }
        return value
    }

    func append(_ values: [PickleValue]) throws {
        let target = try top("APPEND(S)")
        guard case .list(let list) = target else {
            throw PickleFailure("APPEND(S) target is \(target.kind), not a list")
        }
        list.items.append(contentsOf: values)
    }

    func setItems(_ values: [PickleValue], _ what: String) throws {
        let target = try top(what)
        guard case .dict(let dict) = target else { throw PickleFailure("\(what) target is \(target.kind), not a dict") }
        guard values.count % 2 == 0 else {
            throw PickleFailure("\(what) with an odd number (\(values.count)) of keys and values")
        }
        for i in stride(from: 0, to: values.count, by: 2) { dict.set(values[i], values[i + 1]) }
    }
}

/// A reason to reject a pickle; `Unpickler.load` adds the file and the opcode's byte offset.
struct PickleFailure: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

func hex(_ byte: UInt8) -> String {
    let digits = Array("0123456789ABCDEF")
    return String([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
}
