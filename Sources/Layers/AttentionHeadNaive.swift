import Foundation

/// Double-precision building blocks of the naive attention twins (`NaiveEncoderAttention`,
/// `NaiveDecoderAttention`): a dense layer and one head of `AttentionHead`'s softmax attention.
enum NaiveDense {
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
