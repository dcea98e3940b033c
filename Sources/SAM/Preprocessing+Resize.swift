/// Antialiased bilinear resize of NCHW planes, PyTorch `F.interpolate(x, size=(OH, OW),
/// mode="bilinear", align_corners=False, antialias=True)`, which is also PIL's BILINEAR resampler
/// (the one `ResizeLongestSide.apply_image` uses) computed in float instead of 8-bit fixed point.
///
/// ref: aten/src/ATen/native/cpu/UpSampleKernel.cpp (torch 2.x), `_compute_weights_aa` and
/// `HelperInterpLinear::aa_filter`. Per axis, with `scale = in / out`:
/// `support = scale >= 1 ? scale : 1` (the triangle filter widens with the downscale factor),
/// `center = scale (i + 0.5)`, taps `j` from `xmin = max(int(center - support + 0.5), 0)` to
/// `min(int(center + support + 0.5), in)`, weights `max(0, 1 - |(j - center + 0.5) / max(scale, 1)|)`
/// normalised to sum 1. Separable: along the width first, then along the height.
///
/// Shapes: P planes, input H x W, output OH x OW.
public enum AntialiasedResize {
    /// The taps of every output index along one axis: output i reads `taps` inputs starting at
    /// `first[i]` with weights `weights[i * taps ..< (i + 1) * taps]` (zero-padded).
    struct AxisFilter {
        let first: [Int]
        let weights: [Float]
        let taps: Int

        init(input: Int, output: Int) {
            precondition(input > 0 && output > 0, "resize of an empty axis (\(input) -> \(output))")
            let scale = Double(input) / Double(output)
            let support = scale >= 1 ? scale : 1, invScale = scale >= 1 ? 1 / scale : 1
            let taps = Int(support.rounded(.up)) * 2 + 1
            var first = [Int](repeating: 0, count: output), weights = [Float](repeating: 0, count: output * taps)
            for i in 0..<output {
                let center = scale * (Double(i) + 0.5)
                let lo = max(Int(center - support + 0.5), 0), hi = min(Int(center + support + 0.5), input)
                let w = (lo..<hi).map { max(0, 1 - abs((Double($0) - center + 0.5) * invScale)) }
                let total = w.reduce(0, +)
                first[i] = lo
                for (k, value) in w.enumerated() { weights[i * taps + k] = Float(total == 0 ? 0 : value / total) }
            }
            (self.first, self.weights, self.taps) = (first, weights, taps)
        }
    }

    /// y (P, OH, OW) <- x (P, H, W).
    public static func forward(
        y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>,
        planes p: Int, height h: Int, width w: Int, outHeight oh: Int, outWidth ow: Int
    ) {
        let across = AxisFilter(input: w, output: ow), down = AxisFilter(input: h, output: oh)
        let rows = UnsafeMutablePointer<Float>.allocate(capacity: h * ow)   // one plane resized along W
        defer { rows.deallocate() }
        for plane in 0..<p {
            let xp = x + plane * h * w, yp = y + plane * oh * ow
            for r in 0..<h {
                for o in 0..<ow {
                    rows[r * ow + o] = dot(xp + r * w + across.first[o], stride: 1, across, output: o, limit: w)
                }
            }
            for o in 0..<oh {
                let top = rows + down.first[o] * ow
                for c in 0..<ow { yp[o * ow + c] = dot(top + c, stride: ow, down, output: o, limit: h) }
            }
        }
    }

    /// sum_k weight[o, k] * src[k * stride] over the taps of output o that lie inside the input.
    @inline(__always)
    private static func dot(_ src: UnsafePointer<Float>, stride: Int, _ f: AxisFilter, output o: Int,
                            limit: Int) -> Float {
        let count = min(f.taps, limit - f.first[o])
        var acc: Float = 0
        for k in 0..<count { acc += f.weights[o * f.taps + k] * src[k * stride] }
        return acc
    }
}

/// SAM's `ResizeLongestSide` transform (segment_anything/utils/transforms.py @ dca509f).
public enum ResizeLongestSide {
    /// Output size for an H x W input and a longest side of `target`:
    /// `scale = target / max(H, W)`, `new = int(old * scale + 0.5)` (`get_preprocess_shape`).
    public static func outputShape(height: Int, width: Int, longestSide target: Int) -> (height: Int, width: Int) {
        let scale = Double(target) / Double(max(height, width))
        return (Int(Double(height) * scale + 0.5), Int(Double(width) * scale + 0.5))
    }

    /// `apply_image`: an H x W x 3 uint8 RGB image (HWC) resized so that its longest side is
    /// `target`, antialiased bilinear in float (`AntialiasedResize`), rounded and clamped to
    /// uint8 like the PIL result (which differs by at most one level, fixture notes).
    /// Returns the resized HWC image and its size.
    public static func apply(image: [UInt8], height: Int, width: Int, longestSide target: Int)
        -> (image: [UInt8], height: Int, width: Int) {
        precondition(image.count == height * width * 3, "image of \(image.count) bytes is not \(height) x \(width) x 3")
        let (oh, ow) = outputShape(height: height, width: width, longestSide: target)
        var planes = [Float](repeating: 0, count: 3 * height * width)
        for i in 0..<height * width {
            for c in 0..<3 { planes[c * height * width + i] = Float(image[i * 3 + c]) }
        }
        var resized = [Float](repeating: 0, count: 3 * oh * ow)
        planes.withUnsafeBufferPointer { x in
            resized.withUnsafeMutableBufferPointer { y in
                AntialiasedResize.forward(y: y.baseAddress!, x: x.baseAddress!, planes: 3, height: height, width: width,
                                          outHeight: oh, outWidth: ow)
            }
        }
        var out = [UInt8](repeating: 0, count: oh * ow * 3)
        for i in 0..<oh * ow {
            for c in 0..<3 { out[i * 3 + c] = UInt8(min(max(resized[c * oh * ow + i], 0), 255).rounded()) }
        }
        return (out, oh, ow)
    }
}
