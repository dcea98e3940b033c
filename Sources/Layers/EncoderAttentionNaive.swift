import Foundation

/// Naive twin of the image encoder's `EncoderAttention.forward`: every sum written out in double, the relative
/// position term taken straight from SAM's formula `Rh[qh, kh] = rel_pos_h[qh - kh + H - 1]`.
/// For tests only. Shapes as in `EncoderAttention`.
public enum NaiveEncoderAttention {
    public static func forward(
        y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>,
        parameters p: EncoderAttention.Parameters, shape s: EncoderAttention.Shape
    ) {
        let (c, n, hd, w) = (s.channels, s.tokens, s.headDim, s.width)
        let qkv = NaiveDense.linear(rows: s.rows, inFeatures: c, outFeatures: 3 * c, weight: p.qkvWeight,
                                    bias: p.qkvBias) {
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
                let out = NaiveDense.attend(q: q, k: part(1), v: part(2), scale: 1 / Double(hd).squareRoot(),
                                            bias: relative)
                for i in 0..<n { for e in 0..<hd { context[(b * n + i) * c + h * hd + e] = out[i][e] } }
            }
        }
        let result = NaiveDense.linear(rows: s.rows, inFeatures: c, outFeatures: c, weight: p.projWeight,
                                       bias: p.projBias) {
            context[$0]
        }
        for i in 0..<result.count { y[i] = Float(result[i]) }
    }
}
