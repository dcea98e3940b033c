/// The torch meaning of GLOBAL, REDUCE, BUILD and BINPERSID: the allow-listed globals are applied
/// here, with every size, stride and offset checked against the storage they view.
///
/// ref: pytorch `torch/serialization.py` (`_load`, `persistent_load`) and `torch/_utils.py`
/// (`_rebuild_tensor_v2`, `_rebuild_parameter`).
extension Unpickler {
    func global(module: String, name: String) throws -> PickleValue {
        guard let g = TorchGlobal(module: module, name: name) else {
            throw PickleFailure("global '\(module.prefix(64)) \(name.prefix(64))' is not allowed "
                                + "(a checkpoint may only name collections.OrderedDict, "
                                + "torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter "
                                + "and torch storage classes)")
        }
        return .global(g)
    }

    mutating func reduce(_ callable: PickleValue, _ arguments: PickleValue) throws -> PickleValue {
        guard case .global(let g) = callable else {
            throw PickleFailure("REDUCE on \(callable.kind), which is not callable")
        }
        guard case .tuple(let args) = arguments else {
            throw PickleFailure("REDUCE arguments are \(arguments.kind), not a tuple")
        }
        switch g {
        case .orderedDict:
            guard args.isEmpty else {
                throw PickleFailure("collections.OrderedDict called with \(args.count) arguments; "
                                    + "only OrderedDict() is supported")
            }
            let d = PickleDict()
            containers.append(d)
            return .dict(d)
        case .rebuildTensorV2:
            return .tensor(try rebuildTensor(args.items))
        case .rebuildParameter:
            guard args.count == 3, case .tensor = args[0] else {
                throw PickleFailure("_rebuild_parameter expects (tensor, requires_grad, hooks), "
                                    + "got \(args.count) arguments")
            }
            return args[0]
        case .storageClass:
            throw PickleFailure("calling \(g.qualifiedName) is not allowed; storages come from persistent ids")
        }
    }

    /// BUILD sets attributes; torch only uses it to attach `_metadata` to the state dict, which
    /// carries no tensor data and is ignored.
    func build(_ target: PickleValue, state: PickleValue) throws -> PickleValue {
        guard case .dict = target else { throw PickleFailure("BUILD on \(target.kind) is not supported") }
        return target
    }

    /// `('storage', <storage class>, key, location, numel)`; the same key must always name the same
    /// dtype and length.
    mutating func persistentLoad(_ pid: PickleValue) throws -> PickleValue {
        guard case .tuple(let t) = pid, t.count == 5, case .string("storage") = t[0] else {
            throw PickleFailure("persistent id \(pid.kind) is not ('storage', class, key, location, numel)")
        }
        guard case .global(.storageClass(let dtype)) = t[1] else {
            throw PickleFailure("persistent id names \(t[1].kind), not a torch storage class")
        }
        guard case .string(let key) = t[2], case .string = t[3] else {
            throw PickleFailure("persistent id key/location are \(t[2].kind) and \(t[3].kind), not strings")
        }
        guard case .int(let numel) = t[4], numel >= 0 else {
            throw PickleFailure("storage '\(key)' has element count \(t[4].kind)")
        }
        let storage = PthStorage(key: key, dtype: dtype, numel: numel)
        if let earlier = storages[key], earlier != storage {
            throw PickleFailure("storage '\(key)' is \(numel) x \(dtype.rawValue) here "
                                + "but \(earlier.numel) x \(earlier.dtype.rawValue) earlier")
        }
        storages[key] = storage
        return .storage(storage)
    }

    /// `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])`.
    func rebuildTensor(_ args: [PickleValue]) throws -> PthTensorLayout {
        guard args.count >= 6 else {
            throw PickleFailure("_rebuild_tensor_v2 expects at least 6 arguments, got \(args.count)")
        }
        guard case .storage(let storage) = args[0] else {
            throw PickleFailure("_rebuild_tensor_v2 storage argument is \(args[0].kind)")
        }
        guard case .int(let offset) = args[1], offset >= 0 else {
            throw PickleFailure("_rebuild_tensor_v2 storage offset is \(args[1].kind)")
        }
        let shape = try intTuple(args[2], "size")
        let strides = try intTuple(args[3], "stride")
        guard shape.count == strides.count else {
            throw PickleFailure("tensor size has \(shape.count) dimensions but stride has \(strides.count)")
        }
        try checkBounds(storage: storage, offset: offset, shape: shape, strides: strides)
        return PthTensorLayout(storage: storage, offset: offset, shape: shape, strides: strides)
    }

    func intTuple(_ value: PickleValue, _ what: String) throws -> [Int] {
        guard case .tuple(let items) = value else {
            throw PickleFailure("tensor \(what) is \(value.kind), not a tuple")
        }
        guard items.count <= limits.maxTensorRank else {
            throw PickleFailure("tensor \(what) has \(items.count) dimensions "
                                + "(at most \(limits.maxTensorRank) supported)")
        }
        return try items.map {
            guard case .int(let i) = $0, i >= 0 else {
                throw PickleFailure("tensor \(what) entry is \($0.kind), not a non-negative int")
            }
            return i
        }
    }

    /// The view must read only elements `0 ..< storage.numel`, and (so that materialising it is
    /// bounded by the file size) have no more elements than its storage. Overflow-safe.
    func checkBounds(storage: PthStorage, offset: Int, shape: [Int], strides: [Int]) throws {
        var numel = 1
        var last = offset
        for (n, s) in zip(shape, strides) {
            let (product, overflow) = numel.multipliedReportingOverflow(by: n)
            guard !overflow else { throw PickleFailure("tensor size \(shape) overflows") }
            numel = product
            guard n > 0 else { continue }
            let (step, o1) = (n - 1).multipliedReportingOverflow(by: s)
            let (sum, o2) = last.addingReportingOverflow(step)
            guard !o1, !o2 else { throw PickleFailure("tensor size \(shape) with stride \(strides) overflows") }
            last = sum
        }
        guard numel <= storage.numel else {
            throw PickleFailure("tensor of size \(shape) has \(numel) elements, more than its storage '\(storage.key)' "
                                + "(\(storage.numel)); expanded or overlapping views are not supported")
        }
        guard numel == 0 ? offset <= storage.numel : last < storage.numel else {
            throw PickleFailure("tensor of size \(shape), stride \(strides), "
                                + "offset \(offset) reads element \(last) of storage '\(storage.key)', "
                                + "which has \(storage.numel)")
        }
    }
}
