import Collectives
import Heads

/// The end of every optimiser step, for every trainer (fine-tuning and SimCLR pretraining):
/// after the gradient is summed over the ranks, a NaN or Inf in it stops the run naming the
/// tensor and the step (always on: one pass over the gradient, negligible next to the step; the
/// gradient is global, so every rank stops together), then the Adam step, then with
/// `run.verify_ranks` the check that the parameters are bit-identical across the ranks.
public enum StepTail {
    /// `position` names the step in errors ("epoch 3, step 41"); `adam` runs the update (so a
    /// trainer can time it), by default `state.step()`.
    public static func finish(_ state: inout TrainableState, comm: Communicator, verifyRanks: Bool, position: String,
                              adam: ((inout TrainableState) -> Void)? = nil) throws {
        if let bad = state.layout.entries.first(where: { e in
            state.grads[e.offset ..< e.offset + e.count].contains { !$0.isFinite }
        }) {
            throw TrainingError.nonFinite("gradient of \(bad.name) at \(position)")
        }
        if let adam { adam(&state) } else { state.step() }
        if verifyRanks, try !comm.isBitIdentical(state.params) {
            throw TrainingError.diverged("parameters differ across ranks after \(position)")
        }
    }
}
