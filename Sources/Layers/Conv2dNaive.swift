/// Naive twin of `Conv2d.forward`: the direct seven-loop convolution with double accumulation.
/// For tests only. Shapes as in `Conv2d`.
public enum NaiveConv2d {
    public static func forward(
        y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>,
        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, shape s: Conv2d.Shape
    ) {
        let (ho, wo, kh, kw) = (s.outHeight, s.outWidth, s.kernelHeight, s.kernelWidth)
        for b in 0..<s.batch {
            for o in 0..<s.outChannels {
                for oy in 0..<ho {
                    for ox in 0..<wo {
                        var acc = Double(bias?[o] ?? 0)
                        for i in 0..<s.inChannels {
                            for ki in 0..<kh {
                                for kj in 0..<kw {
                                    let iy = oy * s.strideHeight - s.padHeight + ki
                                    let ix = ox * s.strideWidth - s.padWidth + kj
                                    guard iy >= 0, iy < s.height, ix >= 0, ix < s.width else { continue }
                                    let xv = x[((b * s.inChannels + i) * s.height + iy) * s.width + ix]
                                    let wv = weight[((o * s.inChannels + i) * kh + ki) * kw + kj]
                                    acc += Double(xv) * Double(wv)
                                }
                            }
                        }
                        y[((b * s.outChannels + o) * ho + oy) * wo + ox] = Float(acc)
                    }
                }
            }
        }
    }
}
