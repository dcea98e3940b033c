import Foundation

/// Plain double-precision twins of the optimised element-wise kernels (one obvious loop each,
/// libm functions, no vector tricks), used by the tests on awkward shapes.
public enum NaiveElementwise {
    /// Softmax over the last axis of x (N, L).
    public static func softmax(_ x: [Float], rows n: Int, length l: Int) -> [Float] {
        var y = [Float](repeating: 0, count: n * l)
        for r in 0..<n {
            let row = (0..<l).map { Double(x[r * l + $0]) }
            let m = row.max() ?? 0
            let e = row.map { Foundation.exp($0 - m) }
            let s = e.reduce(0, +)
            for j in 0..<l { y[r * l + j] = Float(e[j] / s) }
        }
        return y
    }

    /// Exact GELU `x (1 + erf(x / sqrt 2)) / 2`, written with erfc so the negative tail is exact.
    public static func gelu(_ x: Float) -> Double {
        let v = Double(x)
        return v * 0.5 * Foundation.erfc(-v / 2.0.squareRoot())
    }

    /// GELU derivative `Phi(x) + x phi(x)`.
    public static func geluDerivative(_ x: Float) -> Double {
        let v = Double(x)
        return 0.5 * Foundation.erfc(-v / 2.0.squareRoot())
            + v * Foundation.exp(-v * v / 2) / (2 * Double.pi).squareRoot()
    }

    /// LayerNorm over the last axis of x (N, C) with weight (C), bias (C).
    public static func layerNorm(_ x: [Float], weight: [Float], bias: [Float], rows n: Int, features c: Int,
                                 eps: Float) -> [Float] {
        var y = [Float](repeating: 0, count: n * c)
        for r in 0..<n {
            let row = (0..<c).map { Double(x[r * c + $0]) }
            let mean = row.reduce(0, +) / Double(c)
            let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(c)
            let rstd = 1 / (variance + Double(eps)).squareRoot()
            for j in 0..<c {
                y[r * c + j] = Float((row[j] - mean) * rstd * Double(weight[j]) + Double(bias[j]))
            }
        }
        return y
    }

    /// Bilinear resize of x (planes, H, W) to (planes, OH, OW), PyTorch `F.interpolate(mode="bilinear",
    /// align_corners=False)`, antialias off: the source of output index d is `(d + 0.5) in/out - 0.5`
    /// clamped at 0, between floor(src) and the next index (clamped to the edge).
    public static func bilinearResize(_ x: [Float], planes: Int, height h: Int, width w: Int,
                                      outHeight oh: Int, outWidth ow: Int) -> [Float] {
        func taps(_ d: Int, _ input: Int, _ output: Int) -> (Int, Int, Double) {
            let source = max((Double(d) + 0.5) * Double(input) / Double(output) - 0.5, 0)
            let i0 = min(Int(source.rounded(.down)), input - 1)
            return (i0, min(i0 + 1, input - 1), source - Double(i0))
        }
        var y = [Float](repeating: 0, count: planes * oh * ow)
        for plane in 0..<planes {
            for oy in 0..<oh {
                let (y0, y1, ly) = taps(oy, h, oh)
                for ox in 0..<ow {
                    let (x0, x1, lx) = taps(ox, w, ow)
                    func at(_ r: Int, _ c: Int) -> Double { Double(x[(plane * h + r) * w + c]) }
                    let top = (1 - lx) * at(y0, x0) + lx * at(y0, x1)
                    let bottom = (1 - lx) * at(y1, x0) + lx * at(y1, x1)
                    y[(plane * oh + oy) * ow + ox] = Float((1 - ly) * top + ly * bottom)
                }
            }
        }
        return y
    }
}
