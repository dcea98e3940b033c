import Tensors

/// `AttentionHead`'s row kernels: plain loops over pointers with wrapping index math, so they
/// vectorise. A score row is one query's logits over the Nk keys (a (kh, kw) grid when biased).
extension AttentionHead {
    /// row[(a, b)] += relH[i, a] + relW[i, b] over the kh x kw key grid.
    @inline(__always)
    static func addDecomposedBias(_ row: UnsafeMutablePointer<Float>, _ bias: Bias, query i: Int) {
        let kh = bias.keyHeight, kw = bias.keyWidth
        let rh = bias.relH + i &* kh, rw = bias.relW + i &* kw
        for a in 0..<kh {
            let seg = row + a &* kw, h = rh[a]
            for b in 0..<kw { seg[b] += h + rw[b] }
        }
    }

    /// dRelH[i, a] += sum_b dS[(a, b)], dRelW[i, b] += sum_a dS[(a, b)].
    @inline(__always)
    static func accumulateBiasGradient(_ g: BiasGradient, _ ds: UnsafePointer<Float>, _ bias: Bias, query i: Int) {
        let kh = bias.keyHeight, kw = bias.keyWidth
        let gh = g.dRelH + i &* kh, gw = g.dRelW + i &* kw
        for a in 0..<kh {
            let seg = ds + a &* kw
            gh[a] += FastMath.sum(seg, count: kw)
            for b in 0..<kw { gw[b] += seg[b] }
        }
    }

    /// Adds the bias (if any) to a score row of n keys and returns the row's maximum (NaNs ignored,
    /// as in `FastMath.maximum`); one pass when the key grid's width is a multiple of 16. The sums
    /// are `addDecomposedBias`'s, in its order.
    @inline(__always)
    static func biasedMaximum(_ row: UnsafeMutablePointer<Float>, count n: Int, bias: Bias?, query i: Int) -> Float {
        guard let bias else { return FastMath.maximum(row, count: n) }
        let kh = bias.keyHeight, kw = bias.keyWidth
        guard kw % 16 == 0 else {
            addDecomposedBias(row, bias, query: i)
            return FastMath.maximum(row, count: n)
        }
        let rh = bias.relH + i &* kh, rw = UnsafeRawPointer(bias.relW + i &* kw)
        var acc = SIMD16<Float>(repeating: -.infinity)
        for a in 0..<kh {
            let seg = UnsafeMutableRawPointer(row + a &* kw), h = SIMD16<Float>(repeating: rh[a])
            var b = 0
            while b < kw {
                let offset = b &* MemoryLayout<Float>.stride
                let v = seg.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
                    + (h + rw.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self))
                seg.storeBytes(of: v, toByteOffset: offset, as: SIMD16<Float>.self)
                acc.replace(with: v, where: v .> acc)
                b &+= 16
            }
        }
        return acc.max()
    }

    /// In place: row[j] <- exp(row[j] - m) for the row's maximum m (`maximum`); returns the sum of the
    /// new row. One pass over a row that sits in L1: 16-lane exp (`FastMath.expNonPositive`: x - m <= 0
    /// or NaN, since m is the maximum of the row's other values) summed on the way in 16 partial sums
    /// (the order `FastMath.sum` uses).
    static func expShiftedRow(_ row: UnsafeMutablePointer<Float>, count n: Int, maximum m: Float) -> Float {
        let shift = SIMD16<Float>(repeating: m)
        var acc = SIMD16<Float>()
        var j = 0
        while j &+ 16 <= n {
            let raw = UnsafeMutableRawPointer(row + j)
            let e = FastMath.expNonPositive(raw.loadUnaligned(as: SIMD16<Float>.self) - shift)
            raw.storeBytes(of: e, as: SIMD16<Float>.self)
            acc += e
            j &+= 16
        }
        var sum = acc.sum()
        while j < n {
            let e = FastMath.exp(row[j] - m)
            row[j] = e
            sum += e
            j &+= 1
        }
        return sum
    }

    /// In place: dp[j] <- p[j] * (dp[j] - sum_k p[k] dp[k]) (softmax backward of one row).
    static func softmaxRowBackward(_ dp: UnsafeMutablePointer<Float>, probabilities p: UnsafePointer<Float>,
                                   count n: Int) {
        var dot0: Float = 0, dot1: Float = 0, dot2: Float = 0, dot3: Float = 0
        var j = 0
        while j &+ 4 <= n {
            dot0 += p[j] * dp[j]; dot1 += p[j &+ 1] * dp[j &+ 1]
            dot2 += p[j &+ 2] * dp[j &+ 2]; dot3 += p[j &+ 3] * dp[j &+ 3]
            j &+= 4
        }
        while j < n { dot0 += p[j] * dp[j]; j &+= 1 }
        let dot = (dot0 + dot1) + (dot2 + dot3)
        for j in 0..<n { dp[j] = p[j] * (dp[j] - dot) }
    }
}
