import Collectives
import Heads
import Layers
import Tensors

/// Test shorthand for the training path (`HeadStep.run`) on one process over a whole batch.
extension HeadStep {
    /// The loss of `embeddings (B, C, H, W)` with `labels (B, Lh, Lw)`; with `backward`, its
    /// gradient replaces `state.grads`. A `SingleProcessCommunicator` never throws, hence `try!`.
    mutating func singleProcess(_ embeddings: Tensor, labels: [Int32], labelHeight: Int, labelWidth: Int,
                                state: inout TrainableState, frozen: FrozenState,
                                backward: Bool) -> SegmentationLoss.Parts {
        let batch = LocalBatch(embeddings: embeddings, labels: labels, labelHeight: labelHeight, labelWidth: labelWidth)
        return try! run(batch, globalCount: batch.count, state: &state, frozen: frozen,
                        comm: SingleProcessCommunicator(),
                        backward: backward)
    }

    /// One training step on one process (loss, gradient, Adam); the loss before the update.
    @discardableResult
    mutating func singleProcessStep(_ embeddings: Tensor, labels: [Int32], labelHeight: Int, labelWidth: Int,
                                    state: inout TrainableState, frozen: FrozenState) -> SegmentationLoss.Parts {
        let parts = singleProcess(embeddings, labels: labels, labelHeight: labelHeight, labelWidth: labelWidth,
                                  state: &state, frozen: frozen, backward: true)
        state.step()
        return parts
    }
}
