/// Naive twin of `ConvTranspose2d.forward` (kernel 2, stride 2): the defining sum per output
/// element in double. For tests only. Shapes as in `ConvTranspose2d`.
public enum NaiveConvTranspose2d {
    public static func forward(
        y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>,
        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        batch b: Int, inChannels i: Int, outChannels o: Int, height h: Int, width w: Int
    ) {
        for n in 0..<b {
            for oc in 0..<o {
                for oy in 0..<2 * h {
                    for ox in 0..<2 * w {
                        var acc = Double(bias?[oc] ?? 0)
                        for ic in 0..<i {
                            let xv = x[((n * i + ic) * h + oy / 2) * w + ox / 2]
                            let wv = weight[((ic * o + oc) * 2 + oy % 2) * 2 + ox % 2]
                            acc += Double(xv) * Double(wv)
                        }
                        y[((n * o + oc) * 2 * h + oy) * 2 * w + ox] = Float(acc)
                    }
                }
            }
        }
    }
}
