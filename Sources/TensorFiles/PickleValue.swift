/// Values the restricted unpickler can produce. There are no arbitrary Python objects: the only
/// callables are the allow-listed torch globals, and they are applied by the reader itself.
enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case tuple(PickleTuple)
    case list(PickleList)
    case dict(PickleDict)
    case global(TorchGlobal)
    case storage(PthStorage)
    case tensor(PthTensorLayout)

    /// A short description for error messages (never recursive, so cyclic containers are safe).
    var kind: String {
        switch self {
        case .none: return "None"
        case .bool(let b): return "bool \(b ? "True" : "False")"
        case .int(let i): return "int \(i)"
        case .float(let f): return "float \(f)"
        case .string(let s): return "string '\(s.prefix(64))'"
        case .tuple(let t): return "tuple of \(t.count)"
        case .list(let l): return "list of \(l.items.count)"
        case .dict(let d): return "dict of \(d.items.count)"
        case .global(let g): return "global '\(g.qualifiedName)'"
        case .storage(let s): return "storage '\(s.key)'"
        case .tensor: return "tensor"
        }
    }
}

extension PickleValue {
    /// The nesting depth of a tuple value (0 for anything else).
    var tupleDepth: Int {
        guard case .tuple(let t) = self else { return 0 }
        return t.depth
    }
}

/// A tuple's items and its nesting depth: 1 + the deepest tuple among its items. Releasing nested
/// tuples recurses once per level, so the unpickler bounds the depth (`PickleLimits.maxTupleDepth`);
/// lists and dicts need no bound, `Unpickler.load` empties them one by one.
struct PickleTuple: RandomAccessCollection {
    let items: [PickleValue]
    let depth: Int

    init(_ items: [PickleValue]) {
        self.items = items
        depth = 1 + items.reduce(0) { Swift.max($0, $1.tupleDepth) }
    }

    var startIndex: Int { items.startIndex }
    var endIndex: Int { items.endIndex }
    subscript(position: Int) -> PickleValue { items[position] }
}

/// Lists and dicts are shared references, as in Python: a memoised container fetched again with
/// BINGET and then mutated is the same container (values would make that quadratic or unbounded).
final class PickleList {
    var items: [PickleValue] = []
}

/// An insertion-ordered dict (Python `dict` and `collections.OrderedDict` alike). String and
/// int keys replace earlier equal keys, keeping the first position; other keys are appended.
final class PickleDict {
    private(set) var items: [(key: PickleValue, value: PickleValue)] = []
    private var stringIndex: [String: Int] = [:]
    private var intIndex: [Int: Int] = [:]

    func set(_ key: PickleValue, _ value: PickleValue) {
        let existing: Int?
        switch key {
        case .string(let s): existing = stringIndex[s]
        case .int(let i): existing = intIndex[i]
        default: existing = nil
        }
        if let at = existing {
            items[at].value = value
            return
        }
        switch key {
        case .string(let s): stringIndex[s] = items.count
        case .int(let i): intIndex[i] = items.count
        default: break
        }
        items.append((key, value))
    }

    /// Drops all items (breaks reference cycles a hostile pickle may have built).
    func removeAll() {
        items.removeAll()
        stringIndex.removeAll()
        intIndex.removeAll()
    }
}

/// The only globals a `.pth` pickle may name.
enum TorchGlobal: Equatable {
    case orderedDict
    case rebuildTensorV2
    case rebuildParameter
    case storageClass(DType)

    init?(module: String, name: String) {
        switch (module, name) {
        case ("collections", "OrderedDict"): self = .orderedDict
        case ("torch._utils", "_rebuild_tensor_v2"): self = .rebuildTensorV2
        case ("torch._utils", "_rebuild_parameter"): self = .rebuildParameter
        case ("torch", _):
            guard let dtype = TorchGlobal.storageClasses[name] else { return nil }
            self = .storageClass(dtype)
        default: return nil
        }
    }

    static let storageClasses: [String: DType] = [
        "FloatStorage": .f32, "DoubleStorage": .f64, "HalfStorage": .f16, "BFloat16Storage": .bf16,
        "LongStorage": .i64, "IntStorage": .i32, "ShortStorage": .i16, "CharStorage": .i8,
        "ByteStorage": .u8, "BoolStorage": .bool,
    ]

    var qualifiedName: String {
        switch self {
        case .orderedDict: return "collections OrderedDict"
        case .rebuildTensorV2: return "torch._utils _rebuild_tensor_v2"
        case .rebuildParameter: return "torch._utils _rebuild_parameter"
        case .storageClass(let dtype):
            return "torch " + TorchGlobal.storageClasses.first { $0.value == dtype }!.key
        }
    }
}

/// A storage named by a persistent id `('storage', <class>, key, location, numel)`: the archive
/// entry `data/<key>` holding `numel` elements of `dtype`.
public struct PthStorage: Sendable, Equatable {
    public let key: String
    public let dtype: DType
    public let numel: Int
}

/// How a tensor views its storage: element `idx` is `storage[offset + sum(idx[d] * strides[d])]`
/// (offset and strides in elements). Checked on creation to stay inside the storage.
public struct PthTensorLayout: Sendable, Equatable {
    public let storage: PthStorage
    public let offset: Int
    public let shape: [Int]
    public let strides: [Int]
    public var count: Int { shape.reduce(1, *) }

    /// Whether the view is the row-major contiguous run `offset ..< offset + count`.
    public var isContiguous: Bool {
        guard count > 0 else { return true }
        var expected = 1
        for d in stride(from: shape.count - 1, through: 0, by: -1) where shape[d] != 1 {
            if strides[d] != expected { return false }
            expected *= shape[d]
        }
        return true
    }
}

/// Bounds that keep a hostile pickle from exhausting memory or stack. Work is linear in the pickle
/// size (every opcode consumes at least one byte and containers are shared), so these are the only
/// limits needed on top of "every length must fit in the remaining bytes".
public struct PickleLimits: Sendable {
    public var maxStackDepth: Int
    public var maxMarkDepth: Int
    public var maxMemoEntries: Int
    public var maxTensorRank: Int
    /// Tuples nested in tuples (torch writes at most 3 levels); each level costs stack when the
    /// value is released, so a 2 MB pickle of nested TUPLE1 opcodes would overflow the stack.
    public var maxTupleDepth: Int

    public init(maxStackDepth: Int = 1 << 20, maxMarkDepth: Int = 1 << 16, maxMemoEntries: Int = 1 << 22,
                maxTensorRank: Int = 32, maxTupleDepth: Int = 256) {
        self.maxStackDepth = maxStackDepth
        self.maxMarkDepth = maxMarkDepth
        self.maxMemoEntries = maxMemoEntries
        self.maxTensorRank = maxTensorRank
        self.maxTupleDepth = maxTupleDepth
    }
}
