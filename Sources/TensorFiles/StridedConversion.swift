import Foundation

/// Bulk conversion of (possibly strided) little-endian storages into contiguous `Float` or `Int`
/// arrays: the view is split into runs along its innermost dimension after merging dimensions
/// that are contiguous with each other, and each run is one tight loop per dtype (a contiguous
/// float32 tensor is a single run that compiles to a vectorised copy).
public enum StridedConversion {
    /// A view is walked as runs: `count` elements `stride` apart, starting at storage element
    /// `source`, written to the output from index `destination`.
    struct Run {
        var source: Int, destination: Int, count: Int, stride: Int
    }

    /// Calls `body` for every run of the view `offset + sum(idx[d] * strides[d])` in row-major order.
    static func forEachRun(shape: [Int], strides: [Int], offset: Int, _ body: (Run) -> Void) {
        guard !shape.contains(0) else { return }
        // Merge dimensions (dropping size 1): outer (n0, s0) and inner (n1, s1) merge when s0 == n1 * s1.
        var dims: [(n: Int, s: Int)] = []
        for (n, s) in zip(shape, strides) where n != 1 {
            if let outer = dims.last, outer.s == n &* s {
                dims[dims.count - 1] = (outer.n &* n, s)
            } else {
                dims.append((n, s))
            }
        }
        guard let inner = dims.popLast() else {
            body(Run(source: offset, destination: 0, count: 1, stride: 1))
            return
        }
        var index = [Int](repeating: 0, count: dims.count)
        var source = offset
        var destination = 0
        while true {
            body(Run(source: source, destination: destination, count: inner.n, stride: inner.s))
            destination &+= inner.n
            var d = dims.count - 1
            while d >= 0 {   // odometer over the outer dimensions
                index[d] &+= 1
                source &+= dims[d].s
                if index[d] < dims[d].n { break }
                source &-= dims[d].n &* dims[d].s
                index[d] = 0
                d -= 1
            }
            if d < 0 { return }
        }
    }

    /// The view's elements as float32, from a storage of `dtype` (bounds checked by the caller).
    public static func floats(_ storage: UnsafeRawBufferPointer, dtype: DType, shape: [Int], strides: [Int],
                              offset: Int) -> [Float] {
        let count = shape.reduce(1, *)
        return [Float](unsafeUninitializedCapacity: count) { out, initialized in
            forEachRun(shape: shape, strides: strides, offset: offset) { run in
                convert(storage.baseAddress! + run.source * dtype.byteSize, stride: run.stride, count: run.count,
                        dtype: dtype, into: out.baseAddress! + run.destination)
            }
            initialized = count
        }
    }

    /// The view's elements as integers, or nil for a floating-point dtype.
    public static func integers(_ storage: UnsafeRawBufferPointer, dtype: DType, shape: [Int], strides: [Int],
                                offset: Int) -> [Int]? {
        guard ![.f32, .f64, .f16, .bf16].contains(dtype) else { return nil }
        let count = shape.reduce(1, *)
        return [Int](unsafeUninitializedCapacity: count) { out, initialized in
            forEachRun(shape: shape, strides: strides, offset: offset) { run in
                convert(storage.baseAddress! + run.source * dtype.byteSize, stride: run.stride, count: run.count,
                        dtype: dtype, into: out.baseAddress! + run.destination)
            }
            initialized = count
        }
    }

    /// `count` elements `stride` elements apart from `source`, converted into `destination`.
    static func convert(_ source: UnsafeRawPointer, stride: Int, count: Int, dtype: DType,
                        into destination: UnsafeMutablePointer<Float>) {
        switch dtype {
        case .f32:
            run(count, stride, destination) {
                Float(bitPattern: UInt32(littleEndian: source.loadUnaligned(fromByteOffset: $0 &* 4, as: UInt32.self)))
            }
        case .f64:
            run(count, stride, destination) {
                let bits = UInt64(littleEndian: source.loadUnaligned(fromByteOffset: $0 &* 8, as: UInt64.self))
                return Float(Double(bitPattern: bits))
            }
        case .f16:
            run(count, stride, destination) {
                halfToFloat(UInt16(littleEndian: source.loadUnaligned(fromByteOffset: $0 &* 2, as: UInt16.self)))
            }
        case .bf16:
            run(count, stride, destination) {
                let half = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: $0 &* 2, as: UInt16.self))
                return Float(bitPattern: UInt32(half) << 16)
            }
        case .i64:
            run(count, stride, destination) {
                Float(Int64(littleEndian: source.loadUnaligned(fromByteOffset: $0 &* 8, as: Int64.self)))
            }
        case .i32:
            run(count, stride, destination) {
                Float(Int32(littleEndian: source.loadUnaligned(fromByteOffset: $0 &* 4, as: Int32.self)))
            }
        case .i16:
            run(count, stride, destination) {
                Float(Int16(littleEndian: source.loadUnaligned(fromByteOffset: $0 &* 2, as: Int16.self)))
            }
        case .i8: run(count, stride, destination) { Float(source.load(fromByteOffset: $0, as: Int8.self)) }
        case .u8, .bool: run(count, stride, destination) { Float(source.load(fromByteOffset: $0, as: UInt8.self)) }
        }
    }

    /// Integer twin of the float conversion (floating dtypes are excluded by the caller).
    static func convert(_ source: UnsafeRawPointer, stride: Int, count: Int, dtype: DType,
                        into destination: UnsafeMutablePointer<Int>) {
        switch dtype {
        case .i64:
            run(count, stride, destination) {
                Int(Int64(littleEndian: source.loadUnaligned(fromByteOffset: $0 &* 8, as: Int64.self)))
            }
        case .i32:
            run(count, stride, destination) {
                Int(Int32(littleEndian: source.loadUnaligned(fromByteOffset: $0 &* 4, as: Int32.self)))
            }
        case .i16:
            run(count, stride, destination) {
                Int(Int16(littleEndian: source.loadUnaligned(fromByteOffset: $0 &* 2, as: Int16.self)))
            }
        case .i8: run(count, stride, destination) { Int(source.load(fromByteOffset: $0, as: Int8.self)) }
        case .u8, .bool: run(count, stride, destination) { Int(source.load(fromByteOffset: $0, as: UInt8.self)) }
        case .f32, .f64, .f16, .bf16: preconditionFailure("integer conversion of \(dtype)")
        }
    }

    /// `destination[i] = load(i * stride)`, with a separate unit-stride loop that vectorises.
    @inline(__always)
    static func run<T>(_ count: Int, _ stride: Int, _ destination: UnsafeMutablePointer<T>, _ load: (Int) -> T) {
        if stride == 1 {
            for i in 0..<count { destination[i] = load(i) }
        } else {
            var j = 0
            for i in 0..<count {
                destination[i] = load(j)
                j &+= stride
            }
        }
    }

    /// IEEE half to single without branches on the exponent (vectorises): the 15 magnitude bits
    /// shifted into a float's exponent/mantissa and scaled by 2^112 are exact for normal and
    /// subnormal halves; infinities and NaNs (exponent 31) are selected separately.
    @inline(__always)
    public static func halfToFloat(_ h: UInt16) -> Float {
        let bits = UInt32(h)
        let magnitude = bits & 0x7FFF
        let sign = (bits & 0x8000) << 16
        let finite = Float(bitPattern: magnitude << 13) * Float(sign: .plus, exponent: 112, significand: 1)
        let special = Float(bitPattern: 0x7F80_0000 | ((magnitude & 0x3FF) << 13))
        let value = magnitude >= 0x7C00 ? special : finite
        return Float(bitPattern: value.bitPattern | sign)
    }
}

/// Obviously-correct twin of `StridedConversion` for tests: converts the whole storage element by
/// element, then gathers each multi-index through the strides.
public enum NaiveStridedConversion {
    public static func floats(_ storage: Data, dtype: DType, shape: [Int], strides: [Int], offset: Int) -> [Float] {
        let all = DTypeConversion.floats(from: storage, dtype: dtype, count: storage.count / dtype.byteSize)
        let count = shape.reduce(1, *)
        var out: [Float] = []
        for flat in 0..<count {
            var rest = flat
            var element = offset
            for d in stride(from: shape.count - 1, through: 0, by: -1) {
                element += (rest % shape[d]) * strides[d]
                rest /= shape[d]
            }
            out.append(all[element])
        }
        return out
    }
}
