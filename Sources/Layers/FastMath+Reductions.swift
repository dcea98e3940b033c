/// Row reductions with 16 partial accumulators in a `SIMD16` register pair. Swift does not
/// reassociate float additions, so a plain `s += x[i]` loop runs one element per add latency;
/// these run at load speed. Results differ from a sequential sum only in rounding order.
extension FastMath {
    @inlinable @inline(__always)
    static func load16(_ p: UnsafePointer<Float>, _ i: Int) -> SIMD16<Float> {
        UnsafeRawPointer(p).loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self)
    }

    /// `sum_i x[i]`, i < n.
    @inlinable
    public static func sum(_ x: UnsafePointer<Float>, count n: Int) -> Float {
        var acc = SIMD16<Float>()
        var i = 0
        while i &+ 16 <= n {
            acc += load16(x, i)
            i &+= 16
        }
        var s = acc.sum()
        while i < n {
            s += x[i]
            i &+= 1
        }
        return s
    }

    /// `sum_i a[i] b[i]`, i < n.
    @inlinable
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count n: Int) -> Float {
        var acc = SIMD16<Float>()
        var i = 0
        while i &+ 16 <= n {
            acc.addProduct(load16(a, i), load16(b, i))
            i &+= 16
        }
        var s = acc.sum()
        while i < n {
            s += a[i] * b[i]
            i &+= 1
        }
        return s
    }

    /// `sum_i (x[i] - c)^2`, i < n (the second pass of a two-pass variance).
    @inlinable
    public static func sumOfSquaredDeviations(_ x: UnsafePointer<Float>, from c: Float, count n: Int) -> Float {
        var acc = SIMD16<Float>()
        let center = SIMD16<Float>(repeating: c)
        var i = 0
        while i &+ 16 <= n {
            let d = load16(x, i) - center
            acc.addProduct(d, d)
            i &+= 16
        }
        var s = acc.sum()
        while i < n {
            let d = x[i] - c
            s += d * d
            i &+= 1
        }
        return s
    }

    /// `max_i x[i]` for n >= 1 (NaN elements are ignored unless all are NaN).
    @inlinable
    public static func maximum(_ x: UnsafePointer<Float>, count n: Int) -> Float {
        var acc = SIMD16<Float>(repeating: -.infinity)
        var i = 0
        while i &+ 16 <= n {
            let v = load16(x, i)
            acc.replace(with: v, where: v .> acc)
            i &+= 16
        }
        var m = acc.max()
        while i < n {
            if x[i] > m { m = x[i] }
            i &+= 1
        }
        return m
    }
}
