import Foundation

/// Naive twin of `MultiHeadAttention.forward`: every sum written out in double, the relative
/// position term taken straight from SAM's formula `Rh[qh, kh] = rel_pos_h[qh - kh + H - 1]`.
/// For tests only. Shapes as in `MultiHeadAttention`.
public enum NaiveMultiHeadAttention {
    public static func forward(
        y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>,
        parameters p: MultiHeadAttention.Parameters, shape s: MultiHeadAttention.Shape
    ) {
        let (c, n, hd, w) = (s.channels, s.tokens, s.headDim, s.width)
        let qkv = NaiveDense.linear(rows: s.rows, inFeatures: c, outFeatures: 3 * c, weight: p.qkvWeight, bias: p.qkvBias) {
            Double(x[$0])
        }
        var context = [Double](repeating: 0, count: s.rows * c)
        for b in 0..<s.batch {
            for h in 0..<s.heads {
                func part(_ which: Int) -> [[Double]] {
                    (0..<n).map { i in (0..<hd).map { qkv[(b * n + i) * 3 * c + which * c + h * hd + $0] } }
                }
                let q = part(0)
                func relative(_ i: Int, _ j: Int) -> Double {
                    guard s.useRelativePosition, let th = p.relPosH, let tw = p.relPosW else { return 0 }
                    let rowH = (i / w - j / w + s.height - 1) * hd, rowW = (i % w - j % w + w - 1) * hd
                    return (0..<hd).reduce(0) { $0 + q[i][$1] * (Double(th[rowH + $1]) + Double(tw[rowW + $1])) }
                }
                let out = NaiveDense.attend(q: q, k: part(1), v: part(2), scale: 1 / Double(hd).squareRoot(), bias: relative)
                for i in 0..<n { for e in 0..<hd { context[(b * n + i) * c + h * hd + e] = out[i][e] } }
            }
        }
        let result = NaiveDense.linear(rows: s.rows, inFeatures: c, outFeatures: c, weight: p.projWeight, bias: p.projBias) {
            context[$0]
        }
        for i in 0..<result.count { y[i] = Float(result[i]) }
    }
}

/// Naive twin of `Attention.forward` (SAM two-way transformer attention) in double.
/// For tests only. Shapes as in `Attention`.
public enum NaiveAttention {
    public static func forward(
        y: UnsafeMutablePointer<Float>,
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        parameters p: Attention.Parameters, shape s: Attention.Shape
    ) {
        let (d, di, hd) = (s.embeddingDim, s.internalDim, s.headDim)
        let qp = NaiveDense.linear(rows: s.batch * s.queries, inFeatures: d, outFeatures: di, weight: p.qWeight, bias: p.qBias) { Double(q[$0]) }
        let kp = NaiveDense.linear(rows: s.batch * s.keys, inFeatures: d, outFeatures: di, weight: p.kWeight, bias: p.kBias) { Double(k[$0]) }
        let vp = NaiveDense.linear(rows: s.batch * s.keys, inFeatures: d, outFeatures: di, weight: p.vWeight, bias: p.vBias) { Double(v[$0]) }
        var context = [Double](repeating: 0, count: s.batch * s.queries * di)
        for b in 0..<s.batch {
            for h in 0..<s.heads {
                func head(_ m: [Double], _ count: Int) -> [[Double]] {
                    (0..<count).map { i in (0..<hd).map { m[(b * count + i) * di + h * hd + $0] } }
                }
                let out = NaiveDense.attend(q: head(qp, s.queries), k: head(kp, s.keys), v: head(vp, s.keys),
                                            scale: 1 / Double(hd).squareRoot(), bias: { _, _ in 0 })
                for i in 0..<s.queries { for e in 0..<hd { context[(b * s.queries + i) * di + h * hd + e] = out[i][e] } }
            }
        }
        let result = NaiveDense.linear(rows: s.batch * s.queries, inFeatures: di, outFeatures: d,
                                       weight: p.outWeight, bias: p.outBias) { context[$0] }
        for i in 0..<result.count { y[i] = Float(result[i]) }
    }
}

/// Double-precision building blocks of the naive attention twins.
private enum NaiveDense {
    /// (rows, outFeatures) = x (rows, inFeatures) @ weight^T + bias, x read through `x(flatIndex)`.
    static func linear(rows: Int, inFeatures i: Int, outFeatures o: Int, weight: UnsafePointer<Float>,
                       bias: UnsafePointer<Float>?, _ x: (Int) -> Double) -> [Double] {
        var y = [Double](repeating: 0, count: rows * o)
        for r in 0..<rows {
            for j in 0..<o {
                var acc = Double(bias?[j] ?? 0)
                for e in 0..<i { acc += x(r * i + e) * Double(weight[j * i + e]) }
                y[r * o + j] = acc
            }
        }
        return y
    }

    /// softmax_j(scale * q_i . k_j + bias(i, j)) weighted sum of v_j, per query row i.
    static func attend(q: [[Double]], k: [[Double]], v: [[Double]], scale: Double,
                       bias: (Int, Int) -> Double) -> [[Double]] {
        q.indices.map { i in
            let logits = k.indices.map { j in scale * zip(q[i], k[j]).reduce(0) { $0 + $1.0 * $1.1 } + bias(i, j) }
            let m = logits.max() ?? 0
            let e = logits.map { exp($0 - m) }
            let total = e.reduce(0, +)
            return (0..<v[0].count).map { c in k.indices.reduce(0) { $0 + e[$1] / total * v[$1][c] } }
        }
    }
}
