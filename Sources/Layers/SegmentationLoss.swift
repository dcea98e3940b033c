/// The training loss of every head (AutoSAM main_autosam_seg.py / main_feat_seg.py at 50a6ff4):
/// `CrossEntropy(logits, labels) + SoftDiceLoss(softmax_K(logits), labels)`, the class softmax
/// computed once and shared by both terms; the Dice gradient reaches the logits through the
/// softmax Jacobian.
///
/// Distributed use (DESIGN.md section 2): every rank runs `forward` on its shard with
/// `normalizer` = the global pixel count, the ranks sum the returned cross-entropy terms and
/// `Statistics.values`, then `combine` gives the global loss and `backward` (with the global
/// statistics and the same normalizer) each rank's share of the gradient; the shares sum to the
/// single-process gradient.
///
/// When every foreground class is predicted perfectly the Dice term is NaN and so is the total,
/// as in the reference; the gradient is then the cross-entropy gradient alone (PyTorch's mean of
/// an empty tensor passes no gradient).
///
/// Shapes: B batch, K classes, P = H * W pixels; logits, probabilities (B, K, P), labels (B, P).
public enum SegmentationLoss {
    public struct Parts: Sendable {
        public let crossEntropy: Double
        public let dice: SoftDiceLoss.Result
        /// crossEntropy + dice.loss.
        public var total: Double { crossEntropy + dice.loss }
    }

    /// probabilities (B, K, P) <- softmax of logits; returns this shard's cross-entropy term
    /// (sum / normalizer, default B * P) and its Dice statistics.
    public static func forward(
        probabilities: UnsafeMutablePointer<Float>, logits: UnsafePointer<Float>, labels: UnsafePointer<Int32>,
        batch b: Int, classes k: Int, pixels p: Int, normalizer: Double? = nil
    ) -> (crossEntropy: Double, statistics: SoftDiceLoss.Statistics) {
        let ce = CrossEntropy.forward(probabilities: probabilities, logits: logits, labels: labels,
                                      batch: b, classes: k, pixels: p, normalizer: normalizer)
        let stats = SoftDiceLoss.statistics(probabilities: probabilities, labels: labels, batch: b, classes: k,
                                            pixels: p)
        return (ce, stats)
    }

    /// The loss from the (summed) cross-entropy term and (global) statistics.
    public static func combine(crossEntropy: Double, statistics: SoftDiceLoss.Statistics) -> Parts {
        Parts(crossEntropy: crossEntropy, dice: SoftDiceLoss.loss(statistics))
    }

    /// Accumulates `dLogits += upstream * d(total)/d(logits)`:
    /// `(p - onehot) / normalizer + p * (g - sum_k g_k p_k)` with `g = dDice/dp`.
    /// probabilities (B, K, P) from `forward`, labels (B, P), statistics global.
    public static func backward(
        dLogits: UnsafeMutablePointer<Float>, upstream: Float, probabilities: UnsafePointer<Float>,
        labels: UnsafePointer<Int32>, statistics: SoftDiceLoss.Statistics,
        batch b: Int, classes k: Int, pixels p: Int, normalizer: Double? = nil
    ) {
        let dProbabilities = UnsafeMutablePointer<Float>.allocate(capacity: b &* k &* p)   // (B, K, P)
        defer { dProbabilities.deallocate() }
        dProbabilities.initialize(repeating: 0, count: b &* k &* p)
        SoftDiceLoss.backward(dProbabilities: dProbabilities, upstream: upstream, probabilities: probabilities,
                              labels: labels, statistics: statistics, batch: b, classes: k, pixels: p)
        ChannelSoftmax.backward(dx: dLogits, dy: dProbabilities, y: probabilities, batch: b, channels: k, pixels: p)
        CrossEntropy.backward(dLogits: dLogits, upstream: upstream, probabilities: probabilities, labels: labels,
                              batch: b, classes: k, pixels: p, normalizer: normalizer)
    }
}
