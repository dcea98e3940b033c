import Foundation

/// Naive twin of the mask decoder's `DecoderAttention.forward` (SAM two-way transformer
/// attention) in double. For tests only. Shapes as in `DecoderAttention`.
public enum NaiveDecoderAttention {
    public static func forward(
        y: UnsafeMutablePointer<Float>,
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        parameters p: DecoderAttention.Parameters, shape s: DecoderAttention.Shape
    ) {
        let (d, di, hd) = (s.embeddingDim, s.internalDim, s.headDim)
        let qRows = s.batch * s.queries, kRows = s.batch * s.keys
        let qp = NaiveDense.linear(rows: qRows, inFeatures: d, outFeatures: di, weight: p.qWeight, bias: p.qBias) {
            Double(q[$0])
        }
        let kp = NaiveDense.linear(rows: kRows, inFeatures: d, outFeatures: di, weight: p.kWeight, bias: p.kBias) {
            Double(k[$0])
        }
        let vp = NaiveDense.linear(rows: kRows, inFeatures: d, outFeatures: di, weight: p.vWeight, bias: p.vBias) {
            Double(v[$0])
        }
        var context = [Double](repeating: 0, count: s.batch * s.queries * di)
        for b in 0..<s.batch {
            for h in 0..<s.heads {
                func head(_ m: [Double], _ count: Int) -> [[Double]] {
                    (0..<count).map { i in (0..<hd).map { m[(b * count + i) * di + h * hd + $0] } }
                }
                let out = NaiveDense.attend(q: head(qp, s.queries), k: head(kp, s.keys), v: head(vp, s.keys),
                                            scale: 1 / Double(hd).squareRoot(), bias: { _, _ in 0 })
                for i in 0..<s.queries {
                    for e in 0..<hd { context[(b * s.queries + i) * di + h * hd + e] = out[i][e] }
                }
            }
        }
        let result = NaiveDense.linear(rows: s.batch * s.queries, inFeatures: di, outFeatures: d,
                                       weight: p.outWeight, bias: p.outBias) { context[$0] }
        for i in 0..<result.count { y[i] = Float(result[i]) }
    }
}
