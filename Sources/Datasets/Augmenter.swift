import Foundation
import Tensors

/// One network input: C x S x S image and S x S class indices.
public struct AugmentedSlice: Sendable, Equatable {
    /// [C, S, S]
    public var image: Tensor
    /// S x S class indices, nil for an unlabelled slice.
    public var labels: [UInt8]?
}

/// The reference's input pipeline (DESIGN §3.6): the slice is min-max scaled to [0, 1] first
/// (`UnitRange`), then the training augmentation (see `AugmentationConfig`) acts on those values
/// and the result is the network input as is, never re-normalised (additive brightness really
/// shifts it, values may leave [0, 1]). Evaluation views are the scaled slice, resized.
/// The augmentation is deterministic from
/// (seed, epoch, slice id): every random number comes from `CounterRNG(seed:).substream(epoch,
/// sliceId)` at fixed counters, so a slice's view does not depend on which rank or in which
/// order it is processed. Image interpolation is cubic B-spline, labels nearest, borders nearest.
///
/// Shapes: C channels, H x W input slice, S output side.
public struct Augmenter: Sendable {
    public let config: AugmentationConfig
    public let seed: UInt64

    public init(config: AugmentationConfig = .reference, seed: UInt64) {
        precondition(config.outputSize >= 2 && config.channels >= 1,
                     "output \(config.outputSize), channels \(config.channels)")
        self.config = config
        self.seed = seed
    }

    /// Stream tags of the steps (sub-streams of the sample's stream).
    enum Step: UInt64 { case brightness = 1, gamma, noise, mirror, spatial }

    /// The training view of slice `id` of `set` in `epoch`.
    public func augment(_ set: SliceSet, slice id: Int, epoch: Int) -> AugmentedSlice {
        let record = set.slices[id]
        let rng = CounterRNG(seed: seed).substream(UInt64(epoch), UInt64(record.id))
        return set.image(id).withUnsafeBufferPointer { image in
            if let labels = set.labels(id) {
                return labels.withUnsafeBufferPointer {
                    augment(image: image.baseAddress!, labels: $0.baseAddress!, height: record.height,
                            width: record.width, rng: rng)
                }
            }
            return augment(image: image.baseAddress!, labels: nil, height: record.height, width: record.width, rng: rng)
        }
    }

    /// The evaluation view of slice `id`: resized only (as the reference's val/test transform).
    public func evaluationView(_ set: SliceSet, slice id: Int) -> AugmentedSlice {
        let r = set.slices[id]
        var x = replicate(UnitRange.scaled(set.image(id)), channels: config.channels)
        let labels = set.labels(id).map { Array($0) }
        return resize(&x, labels: labels, height: r.height, width: r.width)
    }

    /// Min-max scales one H x W slice to [0, 1] and augments it with the random numbers of `rng`.
    public func augment(image: UnsafePointer<Float>, labels: UnsafePointer<UInt8>?, height: Int, width: Int,
                        rng: CounterRNG) -> AugmentedSlice {
        let scaled = UnitRange.scaled(UnsafeBufferPointer(start: image, count: height * width))
        var x = replicate(scaled, channels: config.channels)
        addBrightness(&x, plane: height * width, rng: rng.substream(Step.brightness.rawValue))
        applyGamma(&x, rng: rng.substream(Step.gamma.rawValue))
        addNoise(&x, rng: rng.substream(Step.noise.rawValue))
        var out = resize(&x, labels: labels.map { Array(UnsafeBufferPointer(start: $0, count: height * width)) },
                         height: height, width: width)
        mirror(&out, rng: rng.substream(Step.mirror.rawValue))
        spatialTransform(&out, rng: rng.substream(Step.spatial.rawValue))
        return out
    }

    private func replicate(_ plane: [Float], channels: Int) -> [Float] {
        channels == 1 ? plane : [[Float]](repeating: plane, count: channels).flatMap { $0 }
    }

    // MARK: intensity steps (C x H x W)

    private func addBrightness(_ x: inout [Float], plane: Int, rng: CounterRNG) {
        guard rng.uniform(0) < config.brightnessProbability else { return }
        let normals = rng.substream(1)
        x.withUnsafeMutableBufferPointer { p in
            for c in 0..<config.channels {
                let shift = config.brightnessMean + config.brightnessStd * normals.normal(UInt64(c))
                for i in c &* plane ..< (c &+ 1) &* plane { p[i] += shift }
            }
        }
    }

    private func applyGamma(_ x: inout [Float], rng: CounterRNG) {
        guard rng.uniform(0) < config.gammaProbability else { return }
        let g = config.gammaRange
        let gamma = rng.uniform(1) < 0.5 && g.lowerBound < 1 ? rng.uniform(2, g.lowerBound, 1)
                                                              : rng.uniform(2, max(g.lowerBound, 1), g.upperBound)
        let low = x.min() ?? 0, range = (x.max() ?? 0) - low
        let inverse = 1 / (range + 1e-7)
        x.withUnsafeMutableBufferPointer { p in
            for i in 0..<p.count { p[i] = pow((p[i] - low) * inverse, gamma) * range + low }
        }
    }

    private func addNoise(_ x: inout [Float], rng: CounterRNG) {
        guard rng.uniform(0) < config.noiseProbability else { return }
        let std = rng.uniform(1, config.noiseStdRange.lowerBound, config.noiseStdRange.upperBound)
        let normals = rng.substream(1)
        x.withUnsafeMutableBufferPointer { p in
            for i in 0..<p.count { p[i] += std * normals.normal(UInt64(i)) }
        }
    }

    // MARK: geometric steps

    /// Resize to S x S: image bilinear, labels by per-label bilinear masks (reference ResizeTransform(order=1)).
    private func resize(_ x: inout [Float], labels: [UInt8]?, height: Int, width: Int) -> AugmentedSlice {
        let s = config.outputSize, c = config.channels
        var image = Tensor(zeros: [c, s, s])
        x.withUnsafeBufferPointer { src in
            image.withMutablePointer { dst in
                for ch in 0..<c {
                    Resize.linear(src.baseAddress! + ch * height * width, height: height, width: width,
                                  into: dst + ch * s * s, outHeight: s, outWidth: s)
                }
            }
        }
        let resized = labels.map { l -> [UInt8] in
            var out = [UInt8](repeating: 0, count: s * s)
            l.withUnsafeBufferPointer { src in
                out.withUnsafeMutableBufferPointer {
                    Resize.labels(src.baseAddress!, height: height, width: width, into: $0.baseAddress!,
                                  outHeight: s, outWidth: s)
                }
            }
            return out
        }
        return AugmentedSlice(image: image, labels: resized)
    }

    private func mirror(_ sample: inout AugmentedSlice, rng: CounterRNG) {
        guard rng.uniform(0) < config.mirrorProbability else { return }
        let s = config.outputSize
        sample.image.withMutablePointer { p in
            for row in 0..<(config.channels * s) { Self.reverse(p + row * s, count: s) }
        }
        if sample.labels != nil {
            sample.labels!.withUnsafeMutableBufferPointer { p in
                for row in 0..<s { Self.reverse(p.baseAddress! + row * s, count: s) }
            }
        }
    }

    private static func reverse<T>(_ p: UnsafeMutablePointer<T>, count: Int) {
        var buffer = UnsafeMutableBufferPointer(start: p, count: count)
        buffer.reverse()
    }
}
