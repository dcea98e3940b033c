extension Conv2dWinograd {
    /// dst[e] = sum_k coefficient_k * source_k[e] over the terms with a nonzero coefficient,
    /// e in 0..<count (zero when every coefficient is zero). Terms are added in order k = 0, 1, ...
    /// (`((w0 s0 + w1 s1) + w2 s2) ...`, no fused multiply-add), so the rounding is fixed.
    ///
    /// One pass, eight lanes at a time, the sum kept in registers: dst is written once. The transforms
    /// call this with dst in the large V / M / Z scratch, where a pass per term (load, add, store
    /// again) cost more than the arithmetic. dst must not overlap a source. At most 8 terms.
    @inline(__always)
    static func combine(
        _ dst: UnsafeMutablePointer<Float>, count: Int, terms: Int,
        _ term: (Int) -> (Float, UnsafePointer<Float>)
    ) {
        var weights = InlineArray<8, Float>(repeating: 0)
        var sources = InlineArray<8, UnsafePointer<Float>>(repeating: UnsafePointer(dst))
        var n = 0
        for k in 0..<terms {
            let (w, src) = term(k)
            if w == 0 { continue }
            weights[n] = w
            sources[n] = src
            n += 1
        }
        switch n {
        case 0: dst.update(repeating: 0, count: count)
        case 1: combine1(dst, count: count, weights[0], sources[0])
        case 2: combine2(dst, count: count, (weights[0], sources[0]), (weights[1], sources[1]))
        case 3: combine3(dst, count: count, (weights[0], sources[0]), (weights[1], sources[1]),
                         (weights[2], sources[2]))
        case 4: combine4(dst, count: count, (weights[0], sources[0]), (weights[1], sources[1]),
                         (weights[2], sources[2]), (weights[3], sources[3]))
        case 5: combine5(dst, count: count, (weights[0], sources[0]), (weights[1], sources[1]),
                         (weights[2], sources[2]), (weights[3], sources[3]), (weights[4], sources[4]))
        default: combineN(dst, count: count, n: n, weights, sources)
        }
    }

    typealias Lanes = SIMD8<Float>

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>, _ e: Int) -> Lanes {
        UnsafeRawPointer(p + e).loadUnaligned(as: Lanes.self)
    }

    @inline(__always)
    static func store(_ v: Lanes, _ p: UnsafeMutablePointer<Float>, _ e: Int) {
        UnsafeMutableRawPointer(p + e).storeBytes(of: v, as: Lanes.self)
    }

    static func combine1(_ dst: UnsafeMutablePointer<Float>, count: Int, _ w: Float, _ s: UnsafePointer<Float>) {
        var e = 0
        while e + Lanes.scalarCount <= count {
            store(w * load(s, e), dst, e)
            e += Lanes.scalarCount
        }
        while e < count { dst[e] = w * s[e]; e += 1 }
    }

    static func combine2(
        _ dst: UnsafeMutablePointer<Float>, count: Int, _ a: (Float, UnsafePointer<Float>),
        _ b: (Float, UnsafePointer<Float>)
    ) {
        var e = 0
        while e + Lanes.scalarCount <= count {
            store(a.0 * load(a.1, e) + b.0 * load(b.1, e), dst, e)
            e += Lanes.scalarCount
        }
        while e < count { dst[e] = a.0 * a.1[e] + b.0 * b.1[e]; e += 1 }
    }

    static func combine3(
        _ dst: UnsafeMutablePointer<Float>, count: Int, _ a: (Float, UnsafePointer<Float>),
        _ b: (Float, UnsafePointer<Float>), _ c: (Float, UnsafePointer<Float>)
    ) {
        var e = 0
        while e + Lanes.scalarCount <= count {
            store(a.0 * load(a.1, e) + b.0 * load(b.1, e) + c.0 * load(c.1, e), dst, e)
            e += Lanes.scalarCount
        }
        while e < count { dst[e] = a.0 * a.1[e] + b.0 * b.1[e] + c.0 * c.1[e]; e += 1 }
    }

    /// 4 terms: F(4x4)'s B^T rows 1-4 and G^T / A^T columns.
    static func combine4(
        _ dst: UnsafeMutablePointer<Float>, count: Int, _ a: (Float, UnsafePointer<Float>),
        _ b: (Float, UnsafePointer<Float>), _ c: (Float, UnsafePointer<Float>), _ d: (Float, UnsafePointer<Float>)
    ) {
        var e = 0
        while e + Lanes.scalarCount <= count {
            store(a.0 * load(a.1, e) + b.0 * load(b.1, e) + c.0 * load(c.1, e) + d.0 * load(d.1, e), dst, e)
            e += Lanes.scalarCount
        }
        while e < count { dst[e] = a.0 * a.1[e] + b.0 * b.1[e] + c.0 * c.1[e] + d.0 * d.1[e]; e += 1 }
    }

    /// 5 terms: F(4x4)'s B^T rows 0 and 5 and A^T rows.
    static func combine5(
        _ dst: UnsafeMutablePointer<Float>, count: Int, _ a: (Float, UnsafePointer<Float>),
        _ b: (Float, UnsafePointer<Float>), _ c: (Float, UnsafePointer<Float>), _ d: (Float, UnsafePointer<Float>),
        _ f: (Float, UnsafePointer<Float>)
    ) {
        var e = 0
        while e + Lanes.scalarCount <= count {
            let sum = a.0 * load(a.1, e) + b.0 * load(b.1, e) + c.0 * load(c.1, e) + d.0 * load(d.1, e)
            store(sum + f.0 * load(f.1, e), dst, e)
            e += Lanes.scalarCount
        }
        while e < count {
            let sum = a.0 * a.1[e] + b.0 * b.1[e] + c.0 * c.1[e] + d.0 * d.1[e]
            dst[e] = sum + f.0 * f.1[e]
            e += 1
        }
    }

    static func combineN(
        _ dst: UnsafeMutablePointer<Float>, count: Int, n: Int, _ weights: InlineArray<8, Float>,
        _ sources: InlineArray<8, UnsafePointer<Float>>
    ) {
        var e = 0
        while e + Lanes.scalarCount <= count {
            var acc = weights[0] * load(sources[0], e)
            for k in 1..<n { acc += weights[k] * load(sources[k], e) }
            store(acc, dst, e)
            e += Lanes.scalarCount
        }
        while e < count {
            var acc = weights[0] * sources[0][e]
            for k in 1..<n { acc += weights[k] * sources[k][e] }
            dst[e] = acc
            e += 1
        }
    }
}
