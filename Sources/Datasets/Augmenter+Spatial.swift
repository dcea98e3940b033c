import Foundation
import Tensors

extension Augmenter {
    /// batchgenerators' SpatialTransform on the S x S sample (patch = input size, no random crop):
    /// sampling grid centred on the image, elastic offsets added, then rotated, then scaled;
    /// image sampled with cubic B-splines, labels with nearest neighbour, both with nearest borders.
    func spatialTransform(_ sample: inout AugmentedSlice, rng: CounterRNG) {
        let s = config.outputSize, n = s * s, channels = config.channels
        let grid = samplingGrid(rng: rng)   // 2 x S x S: source row, source column
        var out = Tensor(zeros: [channels, s, s])
        grid.withUnsafeBufferPointer { g in
            let rows = g.baseAddress!, cols = rows + n
            sample.image.withPointer { src in
                out.withMutablePointer { dst in
                    for ch in 0..<channels {
                        let spline = CubicBSpline(image: src + ch * n, height: s, width: s)
                        spline.coefficients.withUnsafeBufferPointer { cb in
                            let plane = dst + ch * n
                            for i in 0..<n { plane[i] = spline.sample(row: rows[i], column: cols[i], cb.baseAddress!) }
                        }
                    }
                }
            }
            if let labels = sample.labels {
                sample.labels = labels.withUnsafeBufferPointer { l in
                    (0..<n).map { i in l[Self.nearest(rows[i], s) &* s &+ Self.nearest(cols[i], s)] }
                }
            }
        }
        sample.image = out
    }

    /// Index of the nearest pixel to coordinate `x` on an axis of `n` pixels, clamped (order 0, nearest border).
    @inline(__always)
    static func nearest(_ x: Float, _ n: Int) -> Int {
        Int(min(max((x + 0.5).rounded(.down), 0), Float(n - 1)))
    }

    /// Source coordinates of every output pixel (rows plane, then columns plane).
    func samplingGrid(rng: CounterRNG) -> [Float] {
        let s = config.outputSize, n = s * s
        let alpha = rng.uniform(0, config.elasticAlphaRange.lowerBound, config.elasticAlphaRange.upperBound)
        let sigma = rng.uniform(1, config.elasticSigmaRange.lowerBound, config.elasticSigmaRange.upperBound)
        let angle = rng.uniform(2) < config.rotationProbability
            ? rng.uniform(3, config.rotationRange.lowerBound, config.rotationRange.upperBound) : 0
        var scale: Float = 1
        if rng.uniform(4) < config.scaleProbability {
            let r = config.scaleRange
            scale = rng.uniform(5) < 0.5 && r.lowerBound < 1 ? rng.uniform(6, r.lowerBound, 1)
                                                              : rng.uniform(6, max(r.lowerBound, 1), r.upperBound)
        }
        let field = rng.substream(1)
        var grid = (0..<(2 * n)).map { field.uniform(UInt64($0)) * 2 - 1 }
        var scratch = [Float](repeating: 0, count: n)
        grid.withUnsafeMutableBufferPointer { g in
            scratch.withUnsafeMutableBufferPointer { t in
                for axis in 0..<2 {
                    GaussianFilter.smooth(g.baseAddress! + axis * n, scratch: t.baseAddress!, height: s, width: s,
                                          sigma: sigma)
                }
            }
            let centre = Float(s - 1) / 2, cosA = cos(angle), sinA = sin(angle)
            let rows = g.baseAddress!, cols = rows + n
            for r in 0..<s {
                for c in 0..<s {
                    let i = r &* s &+ c
                    let y = Float(r) - centre + alpha * rows[i], x = Float(c) - centre + alpha * cols[i]
                    rows[i] = (y * cosA + x * sinA) * scale + centre
                    cols[i] = (-y * sinA + x * cosA) * scale + centre
                }
            }
        }
        return grid
    }
}
