import Foundation
import Layers
import Tensors

/// What the per-voxel uncertainty map of a seed ensemble holds (`predict --uncertainty`).
public enum EnsembleUncertainty: String, CaseIterable, Codable, Sendable {
    /// Entropy of the averaged class probabilities, in nats: 0 (certain) ... log K (uniform).
    case entropy
    /// Fraction of the seeds whose own argmax differs from the ensemble's: 0 ... (S - 1) / S.
    case disagreement
}

/// The arithmetic of a seed ensemble, per batch of slices. Shapes: B slices, K classes, P = h * w
/// pixels at the native slice size, S seeds.
public enum EnsembleMath {
    /// Mean over seeds of each seed's softmax over classes: `logits` S tensors of (B, K, h, w),
    /// the same shape, one per seed; returns (B, K, h, w). Each softmax is the stable
    /// `ChannelSoftmax` of the seed's logits, the mean their sum divided by S.
    public static func meanProbabilities(_ logits: [Tensor]) -> Tensor {
        precondition(!logits.isEmpty && logits.allSatisfy { $0.shape == logits[0].shape && $0.shape.count == 4 },
                     "one (B, K, h, w) logit tensor per seed, all of one shape")
        let shape = logits[0].shape
        let (b, k, p) = (shape[0], shape[1], shape[2] * shape[3])
        let n = b * k * p
        var sum = Tensor(zeros: shape)
        var probabilities = Tensor(zeros: shape)
        for seedLogits in logits {
            seedLogits.withPointer { x in
                probabilities.withMutablePointer { y in
                    ChannelSoftmax.forward(y: y, logSumExp: nil, x: x, batch: b, channels: k, pixels: p)
                }
            }
            probabilities.withPointer { y in
                sum.withMutablePointer { s in for i in 0..<n { s[i] += y[i] } }
            }
        }
        let scale = 1 / Float(logits.count)
        sum.withMutablePointer { s in for i in 0..<n { s[i] *= scale } }
        return sum
    }

    /// The ensemble's labels of item `item` of `mean` (B, K, h, w) into `labels[offset ..< offset + P]`,
    /// and, when asked, its uncertainty into `map` at the same place. `seedLabels` holds each
    /// seed's own argmax label map, read at the same offsets.
    ///
    /// The label is the argmax of the mean probabilities (ties -> lowest class, as torch.argmax),
    /// except where every seed's argmax is the same class: then that class, so rounding in the
    /// mean can never overturn a unanimous vote (identical seeds give the single seed's labels).
    public static func vote(_ mean: Tensor, item: Int, seedLabels: [[UInt8]], offset: Int,
                            labels: inout [UInt8], uncertainty: EnsembleUncertainty?, map: inout [Float]) {
        let (k, p) = (mean.shape[1], mean.shape[2] * mean.shape[3])
        let seeds = Float(seedLabels.count)
        mean.withPointer { x in
            let base = x + item * k * p
            for i in 0..<p {
                let first = seedLabels[0][offset + i]
                var label = first
                if !seedLabels.allSatisfy({ $0[offset + i] == first }) {
                    var best = 0
                    for c in 1..<k where base[c * p + i] > base[best * p + i] { best = c }
                    label = UInt8(best)
                }
                labels[offset + i] = label
                switch uncertainty {
                case .entropy?:
                    var h = 0.0
                    for c in 0..<k {
                        let q = Double(base[c * p + i])
                        if q > 0 { h -= q * Foundation.log(q) }
                    }
                    map[offset + i] = Float(h)
                case .disagreement?:
                    map[offset + i] = Float(seedLabels.filter { $0[offset + i] != label }.count) / seeds
                case nil:
                    break
                }
            }
        }
    }
}
