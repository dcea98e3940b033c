import Tensors

/// Attention over a handful of keys (the mask decoder's image-to-token attention: 4096 image
/// queries against the 3 tokens of their row), where the GEMM path is all overhead: a (rows x 3)
/// score block per head, a softmax call per 3-element row and two degenerate GEMMs. Here queries go
/// in chunks of 64 with the scores stored key-major (keys x 64), so max, exp, sums and scaling run
/// vectorised over the queries, and the dot products over the head dimension.
extension AttentionHead {
    /// At most this many keys (and no bias) take the few-keys path.
    static let fewKeysLimit = 8
    /// Queries per chunk (scores, probabilities and their gradient stay in L1).
    static let fewKeysChunk = 64

    var takesFewKeysPath: Bool { keys <= Self.fewKeysLimit }

    /// o (Nq, D) <- softmax(scale q k^T) v for keys <= `fewKeysLimit`, no bias.
    func forwardFewKeys(o: UnsafeMutablePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>,
                        v: UnsafePointer<Float>) {
        let n = keys, d = headDim, chunk = Self.fewKeysChunk
        withUnsafeTemporaryAllocation(of: Float.self, capacity: n * chunk + chunk) { buffer in
            let p = buffer.baseAddress!, sums = p + n * chunk
            for first in stride(from: 0, to: queries, by: chunk) {
                let m = min(chunk, queries - first)
                probabilities(p, sums: sums, q: q + first &* ldq, k: k, count: m)
                for i in 0..<m {
                    let out = o + (first &+ i) &* ldo
                    for c in 0..<d { out[c] = 0 }
                    for j in 0..<n {
                        let w = p[j &* chunk &+ i], row = v + j &* ldv
                        for c in 0..<d { out[c] += w * row[c] }
                    }
                }
            }
        }
    }

    /// Backward of `forwardFewKeys` (accumulates dq, dk, dv), recomputing the probabilities:
    /// dP = dO v^T, dS = P (dP - rowsum(P dP)), dq += scale dS k, dk += scale dS^T q, dv += P^T dO.
    func backwardFewKeys(dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>,
                         dv: UnsafeMutablePointer<Float>, dO: UnsafePointer<Float>, q: UnsafePointer<Float>,
                         k: UnsafePointer<Float>, v: UnsafePointer<Float>) {
        let n = keys, d = headDim, chunk = Self.fewKeysChunk
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * n * chunk + 2 * chunk) { buffer in
            let p = buffer.baseAddress!, ds = p + n * chunk, sums = ds + n * chunk, dots = sums + chunk
            for first in stride(from: 0, to: queries, by: chunk) {
                let m = min(chunk, queries - first)
                let qb = q + first &* ldq, dOb = dO + first &* ldo, dqb = dq + first &* ldq
                probabilities(p, sums: sums, q: qb, k: k, count: m)
                for i in 0..<m { dots[i] = 0 }
                for j in 0..<n {   // dP, then P dP summed per query
                    let row = v + j &* ldv, pj = p + j &* chunk, dpj = ds + j &* chunk
                    for i in 0..<m {
                        let dot = Self.dot(dOb + i &* ldo, row, count: d)
                        dpj[i] = dot
                        dots[i] += pj[i] * dot
                    }
                }
                for j in 0..<n {
                    let pj = p + j &* chunk, dsj = ds + j &* chunk
                    for i in 0..<m { dsj[i] = pj[i] * (dsj[i] - dots[i]) * scale }
                }
                for j in 0..<n {   // dv_j += sum_i P_ij dO_i, dk_j += sum_i dS_ij q_i (queries in order)
                    let pj = p + j &* chunk, dsj = ds + j &* chunk
                    let dvj = dv + j &* ldv, dkj = dk + j &* ldk
                    for i in 0..<m {
                        let g = dOb + i &* ldo, x = qb + i &* ldq, (a, b) = (pj[i], dsj[i])
                        for c in 0..<d {
                            dvj[c] += a * g[c]
                            dkj[c] += b * x[c]
                        }
                    }
                }
                for i in 0..<m {   // dq_i += sum_j dS_ij k_j
                    let target = dqb + i &* ldq
                    for j in 0..<n {
                        let w = ds[j &* chunk &+ i], row = k + j &* ldk
                        for c in 0..<d { target[c] += w * row[c] }
                    }
                }
            }
        }
    }

    /// p (keys, chunk) key-major <- softmax over keys of scale q_i . k_j for the `count` queries
    /// at q; sums (chunk) is scratch.
    private func probabilities(_ p: UnsafeMutablePointer<Float>, sums: UnsafeMutablePointer<Float>,
                               q: UnsafePointer<Float>, k: UnsafePointer<Float>, count m: Int) {
        let n = keys, d = headDim, chunk = Self.fewKeysChunk
        for j in 0..<n {
            let row = k + j &* ldk, pj = p + j &* chunk
            for i in 0..<m { pj[i] = Self.dot(q + i &* ldq, row, count: d) * scale }
        }
        for i in 0..<m { sums[i] = p[i] }   // the running maximum first
        for j in 1..<max(n, 1) {
            let pj = p + j &* chunk
            for i in 0..<m { sums[i] = max(sums[i], pj[i]) }
        }
        for j in 0..<n {
            let pj = p + j &* chunk
            for i in 0..<m { pj[i] = FastMath.exp(pj[i] - sums[i]) }
        }
        for i in 0..<m { sums[i] = p[i] }
        for j in 1..<max(n, 1) {
            let pj = p + j &* chunk
            for i in 0..<m { sums[i] += pj[i] }
        }
        for i in 0..<m { sums[i] = 1 / sums[i] }
        for j in 0..<n {
            let pj = p + j &* chunk
            for i in 0..<m { pj[i] *= sums[i] }
        }
    }

    /// a . b over `count` floats: eight lanes at a time when count is a multiple of 8 (head dims
    /// 16 and 32 in SAM's decoder), one horizontal sum at the end.
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        guard count & 7 == 0 else {
            var sum: Float = 0
            for c in 0..<count { sum += a[c] * b[c] }
            return sum
        }
        var acc = SIMD8<Float>()
        var c = 0
        while c < count {
            let x = UnsafeRawPointer(a + c).loadUnaligned(as: SIMD8<Float>.self)
            let y = UnsafeRawPointer(b + c).loadUnaligned(as: SIMD8<Float>.self)
            acc.addProduct(x, y)
            c &+= 8
        }
        return acc.sum()
    }
}
