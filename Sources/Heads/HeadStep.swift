import Collectives
import Foundation
import Layers
import Tensors

/// One rank's share of a global batch: embeddings and labels at the loss resolution.
/// embeddings (b, C, g, g), labels (b, Lh, Lw) class indices, flattened; b may be 0 on some ranks.
public struct LocalBatch {
    public var embeddings: Tensor
    public var labels: [Int32]
    public let labelHeight: Int
    public let labelWidth: Int
    public var count: Int { embeddings.shape.first ?? 0 }

    public init(embeddings: Tensor, labels: [Int32], labelHeight: Int, labelWidth: Int) {
        precondition(labels.count == (embeddings.shape.first ?? 0) * labelHeight * labelWidth,
                     "labels do not match the batch")
        self.embeddings = embeddings
        self.labels = labels
        (self.labelHeight, self.labelWidth) = (labelHeight, labelWidth)
    }

    /// Square labels (S x S), as training uses them.
    public init(embeddings: Tensor, labels: [Int32], labelSize: Int) {
        self.init(embeddings: embeddings, labels: labels, labelHeight: labelSize, labelWidth: labelSize)
    }

    /// An empty share (b = 0) of a batch with labels of Lh x Lw.
    public static func empty(labelHeight: Int, labelWidth: Int) -> LocalBatch {
        LocalBatch(embeddings: Tensor(zeros: [0]), labels: [], labelHeight: labelHeight, labelWidth: labelWidth)
    }
}

/// The training step of every head: the loss of a global batch spread over the ranks of a
/// communicator and its gradient, with the global-batch semantics of DESIGN §2. Each rank runs
/// the head forward and `HeadLoss.forward` on its share (cross-entropy divided by the global
/// pixel count), the cross-entropy terms and batch-Dice statistics are all-reduced, each rank runs
/// `HeadLoss.backward` with the global statistics and the head backward, and one all-reduce of
/// the flat gradient buffer sums the shares: the result equals the single-process gradient of the
/// global batch. One process passes a `SingleProcessCommunicator`.
///
/// This is the only implementation of the training loss and its backward: training, the
/// benchmarks and the PyTorch fixture tests all run it.
public struct HeadStep<Head: SegmentationHead> {
    public let head: Head
    public var workspace: Head.Workspace
    /// Wall time of the phases of the last `run`.
    public private(set) var phases = Phases()

    /// Seconds spent in each phase of one `run`.
    public struct Phases: Sendable {
        public var forward = 0.0
        /// Resize, softmax, cross-entropy, Dice and their backward to the logits.
        public var loss = 0.0
        public var backward = 0.0
        /// The two all-reduces (loss statistics, gradients), waiting for peers included.
        public var communication = 0.0
    }

    public init(head: Head) {
        self.head = head
        self.workspace = head.makeWorkspace()
    }

    /// Loss of the global batch; with `backward`, also leaves the all-reduced gradient in
    /// `state.grads` (zeroed first). `globalCount` is the global batch size of this step; every
    /// rank of `comm` must call this with its share of the same global batch.
    public mutating func run(_ batch: LocalBatch, globalCount: Int, state: inout TrainableState, frozen: FrozenState,
                             comm: Communicator, backward: Bool) throws -> SegmentationLoss.Parts {
        precondition(globalCount >= batch.count, "a share of \(batch.count) in a global batch of \(globalCount)")
        phases = Phases()
        var clock = Date()
        func lap(_ phase: WritableKeyPath<Phases, Double>) {
            let now = Date()
            phases[keyPath: phase] += now.timeIntervalSince(clock)
            clock = now
        }
        let normalizer = Double(globalCount * batch.labelHeight * batch.labelWidth)
        var loss = HeadLoss(labelHeight: batch.labelHeight, labelWidth: batch.labelWidth)
        var packed = [Double](repeating: 0, count: 1 + SoftDiceLoss.Statistics(classes: head.classes).values.count)
        if batch.count > 0 {
            let logits = head.forward(batch.embeddings, parameters: state.params, frozen: frozen.values,
                                      workspace: &workspace)
            lap(\.forward)
            let (crossEntropy, local) = loss.forward(logits: logits, labels: batch.labels, normalizer: normalizer)
            packed[0] = crossEntropy
            packed.replaceSubrange(1..., with: local.values)
            lap(\.loss)
        }
        try comm.allReduceSum(&packed)
        lap(\.communication)
        var statistics = SoftDiceLoss.Statistics(classes: head.classes)
        statistics.values = Array(packed[1...])
        let parts = SegmentationLoss.combine(crossEntropy: packed[0], statistics: statistics)
        guard backward else { return parts }
        state.zeroGradients()
        if batch.count > 0 {
            let dLogits = loss.backward(statistics: statistics, normalizer: normalizer)
            lap(\.loss)
            head.backward(dLogits, parameters: state.params, frozen: frozen.values, gradients: &state.grads,
                          workspace: &workspace)
            lap(\.backward)
        }
        try comm.allReduceSum(&state.grads)
        lap(\.communication)
        return parts
    }

    /// `run` with the backward pass, then one Adam update (identical on every rank). Returns the
    /// loss parts before the update.
    @discardableResult
    public mutating func train(_ batch: LocalBatch, globalCount: Int, state: inout TrainableState, frozen: FrozenState,
                               comm: Communicator) throws -> SegmentationLoss.Parts {
        let parts = try run(batch, globalCount: globalCount, state: &state, frozen: frozen, comm: comm, backward: true)
        state.step()
        return parts
    }

    /// This rank's Dice statistics of a labelled batch (no communication, no gradient).
    public mutating func statistics(_ batch: LocalBatch, state: TrainableState, frozen: FrozenState)
        -> SoftDiceLoss.Statistics {
        var loss = HeadLoss(labelHeight: batch.labelHeight, labelWidth: batch.labelWidth)
        let logits = head.forward(batch.embeddings, parameters: state.params, frozen: frozen.values,
                                  workspace: &workspace)
        return loss.forward(logits: logits, labels: batch.labels).statistics
    }

    /// Class logits of a batch at the label size (inference; no communication).
    public mutating func predict(_ embeddings: Tensor, labelSize s: Int, state: TrainableState,
                                 frozen: FrozenState) -> Tensor {
        let logits = head.forward(embeddings, parameters: state.params, frozen: frozen.values, workspace: &workspace)
        return HeadLoss(labelHeight: s, labelWidth: s).resized(logits)
    }
}
