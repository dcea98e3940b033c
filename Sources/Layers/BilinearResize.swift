/// Bilinear resize of NCHW planes, PyTorch `F.interpolate(x, size=(OH, OW), mode="bilinear",
/// align_corners=False)` without antialias (aten/src/ATen/native/UpSample.h,
/// `area_pixel_compute_source_index` and `guard_index_and_lambda`), for up- and down-sampling.
///
/// Per axis, in float like PyTorch: `src = max((d + 0.5) * in/out - 0.5, 0)`, `i0 = floor(src)`,
/// `i1 = min(i0 + 1, in - 1)`, `l1 = src - i0`, `l0 = 1 - l1`; then
/// `y = (x[i0y, i0x] l0x + x[i0y, i1x] l1x) l0y + (x[i1y, i0x] l0x + x[i1y, i1x] l1x) l1y`.
///
/// Shapes: P planes (B * C), input H x W, output OH x OW.
public enum BilinearResize {
    /// The two taps and weights of every output index along one axis.
    struct AxisTaps {
        var i0: [Int], i1: [Int]
        var l0: [Float], l1: [Float]

        init(input: Int, output: Int) {
            precondition(input > 0 && output > 0, "bilinear resize of an empty axis (\(input) -> \(output))")
            let scale = Float(input) / Float(output)
            (i0, i1, l0, l1) = ([], [], [], [])
            for d in 0..<output {
                let source = max(scale * (Float(d) + 0.5) - 0.5, 0)
                let index = min(Int(source), input - 1)
                let lambda = min(max(source - Float(index), 0), 1)
                i0.append(index)
                i1.append(index < input - 1 ? index + 1 : index)
                l0.append(1 - lambda)
                l1.append(lambda)
            }
        }
    }

    /// y (P, OH, OW) <- x (P, H, W).
    public static func forward(
        y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>,
        planes p: Int, height h: Int, width w: Int, outHeight oh: Int, outWidth ow: Int
    ) {
        let rows = AxisTaps(input: h, output: oh), columns = AxisTaps(input: w, output: ow)
        let c0 = columns.i0, c1 = columns.i1, w0 = columns.l0, w1 = columns.l1
        for plane in 0..<p {
            let xp = x + plane &* h &* w, yp = y + plane &* oh &* ow
            for oy in 0..<oh {
                let top = xp + rows.i0[oy] &* w, bottom = xp + rows.i1[oy] &* w
                let ly0 = rows.l0[oy], ly1 = rows.l1[oy]
                let out = yp + oy &* ow
                for ox in 0..<ow {
                    let a = c0[ox], b = c1[ox], la = w0[ox], lb = w1[ox]
                    out[ox] = (top[a] * la + top[b] * lb) * ly0 + (bottom[a] * la + bottom[b] * lb) * ly1
                }
            }
        }
    }

    /// Adjoint of `forward`: accumulates every `dy` element into its four source pixels with the
    /// same weights. dx (P, H, W), dy (P, OH, OW).
    public static func backward(
        dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>,
        planes p: Int, height h: Int, width w: Int, outHeight oh: Int, outWidth ow: Int
    ) {
        let rows = AxisTaps(input: h, output: oh), columns = AxisTaps(input: w, output: ow)
        for plane in 0..<p {
            let dxp = dx + plane &* h &* w, dyp = dy + plane &* oh &* ow
            for oy in 0..<oh {
                let top = dxp + rows.i0[oy] &* w, bottom = dxp + rows.i1[oy] &* w
                let ly0 = rows.l0[oy], ly1 = rows.l1[oy]
                let upstream = dyp + oy &* ow
                for ox in 0..<ow {
                    let a = columns.i0[ox], b = columns.i1[ox]
                    let g0 = upstream[ox] * ly0, g1 = upstream[ox] * ly1
                    top[a] += g0 * columns.l0[ox]
                    top[b] += g0 * columns.l1[ox]
                    bottom[a] += g1 * columns.l0[ox]
                    bottom[b] += g1 * columns.l1[ox]
                }
            }
        }
    }
}
