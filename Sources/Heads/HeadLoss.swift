import Layers
import Tensors

/// The training loss on a head's logits, as the reference computes it: `SamFeatSeg.forward` /
/// `AutoSamSeg.forward` (models/*.py at 50a6ff4) bilinearly resize the head output to the label
/// grid when the sizes differ (`F.interpolate`, align_corners=False, no antialias; 256 -> 224
/// for real SAM), then scripts/main_feat_seg.py and main_autosam_seg.py apply
/// `CrossEntropyLoss + SoftDiceLoss(batch_dice, no background)` (`SegmentationLoss`).
///
/// Split like `SegmentationLoss` for distributed training: `forward` returns this shard's
/// cross-entropy term and Dice statistics; the ranks sum them; `backward` takes the global
/// statistics. `HeadStep` (the training step, the only caller in training) does exactly that.
///
/// Shapes: B batch, K classes, h x w logit grid, Lh x Lw label grid, P = Lh * Lw.
/// logits (B, K, h, w), labels (B, Lh, Lw) flattened, class indices in 0..<K.
public struct HeadLoss {
    public let labelHeight: Int
    public let labelWidth: Int
    /// (B, K, h, w) of the logits of the last `forward`.
    public private(set) var logitsShape: [Int] = []
    /// softmax over K of the resized logits (B, K, P).
    private var probabilities: [Float] = []
    /// Labels of the last forward (B, P).
    private var labels: [Int32] = []

    public init(labelHeight: Int, labelWidth: Int) {
        precondition(labelHeight > 0 && labelWidth > 0, "empty label grid")
        (self.labelHeight, self.labelWidth) = (labelHeight, labelWidth)
    }

    /// Whether logits of `shape` are resized before the loss.
    public func resizes(_ shape: [Int]) -> Bool { shape[2] != labelHeight || shape[3] != labelWidth }

    /// This shard's cross-entropy term (sum / normalizer, default B * P) and Dice statistics.
    public mutating func forward(logits: Tensor, labels: [Int32], normalizer: Double? = nil)
        -> (crossEntropy: Double, statistics: SoftDiceLoss.Statistics) {
        precondition(logits.rank == 4, "logits must be (B, K, h, w), got \(logits.shape)")
        let (b, k, p) = (logits.shape[0], logits.shape[1], labelHeight * labelWidth)
        precondition(labels.count == b * p, "\(labels.count) labels for \(b) images of \(labelHeight)x\(labelWidth)")
        logitsShape = logits.shape
        self.labels = labels
        let scores = resized(logits)   // (B, K, Lh, Lw)
        probabilities = [Float](repeating: 0, count: b * k * p)
        return scores.withPointer { sp in
            SegmentationLoss.forward(probabilities: &probabilities, logits: sp, labels: labels,
                                     batch: b, classes: k, pixels: p, normalizer: normalizer)
        }
    }

    /// dLogits (B, K, h, w) = upstream * d(loss)/d(logits) of the last `forward`, for the
    /// global `statistics` and the same `normalizer`.
    public func backward(statistics: SoftDiceLoss.Statistics, upstream: Float = 1,
                         normalizer: Double? = nil) -> Tensor {
        precondition(!logitsShape.isEmpty, "backward before forward")
        let (b, k, h, w) = (logitsShape[0], logitsShape[1], logitsShape[2], logitsShape[3])
        var dScores = Tensor(zeros: [b, k, labelHeight, labelWidth])
        SegmentationLoss.backward(dLogits: &dScores.data, upstream: upstream, probabilities: probabilities,
                                  labels: labels, statistics: statistics, batch: b, classes: k,
                                  pixels: labelHeight * labelWidth, normalizer: normalizer)
        guard resizes(logitsShape) else { return dScores }
        var dLogits = Tensor(zeros: logitsShape)
        dScores.withPointer { ds in
            BilinearResize.backward(dx: &dLogits.data, dy: ds, planes: b * k, height: h, width: w,
                                    outHeight: labelHeight, outWidth: labelWidth)
        }
        return dLogits
    }

    /// logits (B, K, h, w) -> (B, K, Lh, Lw) (the logits themselves when the grids agree).
    public func resized(_ logits: Tensor) -> Tensor {
        guard resizes(logits.shape) else { return logits }
        let (b, k, h, w) = (logits.shape[0], logits.shape[1], logits.shape[2], logits.shape[3])
        var out = Tensor(zeros: [b, k, labelHeight, labelWidth])
        logits.withPointer { lp in
            BilinearResize.forward(y: &out.data, x: lp, planes: b * k, height: h, width: w,
                                   outHeight: labelHeight, outWidth: labelWidth)
        }
        return out
    }
}
