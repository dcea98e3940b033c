import Collectives
import Heads
import Layers
import Tensors

/// One rank's share of a global batch: embeddings and labels at the loss resolution.
/// embeddings (b, C, g, g), labels (b, S, S) class indices; b may be 0 on some ranks.
public struct LocalBatch {
    public var embeddings: Tensor
    public var labels: [Int32]
    public let labelSize: Int
    public var count: Int { embeddings.shape.first ?? 0 }

    public init(embeddings: Tensor, labels: [Int32], labelSize: Int) {
        precondition(labels.count == (embeddings.shape.first ?? 0) * labelSize * labelSize, "labels do not match the batch")
        self.embeddings = embeddings
        self.labels = labels
        self.labelSize = labelSize
    }
}

/// The loss of a head on a global batch spread over the ranks of a communicator, with the
/// global-batch semantics of DESIGN §2: cross-entropy divided by the global pixel count, the
/// batch-Dice statistics all-reduced before the backward pass, then one all-reduce of the flat
/// gradient buffer. The summed gradient equals the single-process gradient of the global batch.
///
/// Logits are bilinearly resized to the label size when they differ (the reference resizes the
/// 4g x 4g head output to 224 x 224).
public struct HeadStep<Head: SegmentationHead> {
    public let head: Head
    public var workspace: Head.Workspace

    public init(head: Head) {
        self.head = head
        self.workspace = head.makeWorkspace()
    }

    /// Loss of the global batch; with `backward`, also leaves the all-reduced gradient in
    /// `state.grads` (zeroed first). `globalCount` is the global batch size of this step.
    public mutating func run(_ batch: LocalBatch, globalCount: Int, state: inout TrainableState, frozen: FrozenState,
                             comm: Communicator, backward: Bool) throws -> SegmentationLoss.Parts {
        let k = head.classes, s = batch.labelSize, pixels = s * s
        let normalizer = Double(globalCount * pixels)
        var probabilities = Tensor(zeros: [batch.count, k, pixels])
        var logits = Tensor(zeros: [0])
        var stats = SoftDiceLoss.Statistics(classes: k)
        var packed = [Double](repeating: 0, count: 1 + stats.values.count)
        if batch.count > 0 {
            logits = head.forward(batch.embeddings, parameters: state.params, frozen: frozen.values, workspace: &workspace)
            let resized = Self.resize(logits, to: s)
            let (ce, local) = batch.labels.withUnsafeBufferPointer { lab in
                resized.withPointer { lp in
                    probabilities.withMutablePointer { pp in
                        SegmentationLoss.forward(probabilities: pp, logits: lp, labels: lab.baseAddress!, batch: batch.count,
                                                 classes: k, pixels: pixels, normalizer: normalizer)
                    }
                }
            }
            packed[0] = ce
            for i in 0..<local.values.count { packed[1 + i] = local.values[i] }
        }
        try comm.allReduceSum(&packed)
        stats.values = Array(packed[1...])
        let parts = SegmentationLoss.combine(crossEntropy: packed[0], statistics: stats)
        guard backward else { return parts }
        state.zeroGradients()
        if batch.count > 0 {
            var dResized = Tensor(zeros: [batch.count, k, s, s])
            batch.labels.withUnsafeBufferPointer { lab in
                probabilities.withPointer { pp in
                    dResized.withMutablePointer { dp in
                        SegmentationLoss.backward(dLogits: dp, upstream: 1, probabilities: pp, labels: lab.baseAddress!,
                                                  statistics: stats, batch: batch.count, classes: k, pixels: pixels,
                                                  normalizer: normalizer)
                    }
                }
            }
            let dLogits = Self.resizeBackward(dResized, to: logits.shape)
            head.backward(dLogits, parameters: state.params, frozen: frozen.values, gradients: &state.grads,
                          workspace: &workspace)
        }
        try comm.allReduceSum(&state.grads)
        return parts
    }

    /// This rank's Dice statistics of a labelled batch (no communication, no gradient).
    public mutating func statistics(_ batch: LocalBatch, state: TrainableState, frozen: FrozenState) -> SoftDiceLoss.Statistics {
        let k = head.classes, s = batch.labelSize
        let logits = predict(batch.embeddings, labelSize: s, state: state, frozen: frozen)
        var probabilities = Tensor(zeros: [batch.count, k, s * s])
        logits.withPointer { lp in
            probabilities.withMutablePointer { pp in
                ChannelSoftmax.forward(y: pp, logSumExp: nil, x: lp, batch: batch.count, channels: k, pixels: s * s)
            }
        }
        return batch.labels.withUnsafeBufferPointer { lab in
            probabilities.withPointer { pp in
                SoftDiceLoss.statistics(probabilities: pp, labels: lab.baseAddress!, batch: batch.count, classes: k, pixels: s * s)
            }
        }
    }

    /// Class logits of a batch at the label size (inference; no communication).
    public mutating func predict(_ embeddings: Tensor, labelSize s: Int, state: TrainableState, frozen: FrozenState) -> Tensor {
        let logits = head.forward(embeddings, parameters: state.params, frozen: frozen.values, workspace: &workspace)
        return Self.resize(logits, to: s)
    }

    /// logits (B, K, H, W) -> (B, K, s, s), bilinear, align_corners=false (identity when equal).
    static func resize(_ logits: Tensor, to s: Int) -> Tensor {
        let (b, k, h, w) = (logits.shape[0], logits.shape[1], logits.shape[2], logits.shape[3])
        if h == s && w == s { return logits }
        var out = Tensor(zeros: [b, k, s, s])
        logits.withPointer { x in
            out.withMutablePointer { y in
                BilinearResize.forward(y: y, x: x, planes: b * k, height: h, width: w, outHeight: s, outWidth: s)
            }
        }
        return out
    }

    static func resizeBackward(_ dResized: Tensor, to shape: [Int]) -> Tensor {
        let (b, k, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let s = dResized.shape[2]
        if h == s && w == s { return dResized }
        var dx = Tensor(zeros: shape)
        dResized.withPointer { dy in
            dx.withMutablePointer { d in
                BilinearResize.backward(dx: d, dy: dy, planes: b * k, height: h, width: w, outHeight: s, outWidth: s)
            }
        }
        return dx
    }
}

/// How a global batch is shared: rank r takes positions r, r + R, r + 2R, ... so shares differ
/// by at most one slice (DESIGN §4.2).
public enum BatchSharding {
    public static func share<T>(_ globalBatch: [T], rank: Int, size: Int) -> [T] {
        stride(from: rank, to: globalBatch.count, by: size).map { globalBatch[$0] }
    }
}
