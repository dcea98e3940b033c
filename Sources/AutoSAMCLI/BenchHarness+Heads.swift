import Collectives
import Config
import Datasets
import Foundation
import Heads
import Optim
import Runs
import Tensors

/// Head-level pieces the `autosam bench` commands share: random batches, timed training steps and
/// a checkpoint of a head's state.
extension BenchHarness {
    /// `n` random embeddings of `embedding` (C, g, g) each, with `labelSize`^2 labels cycling over
    /// the classes; `seed` makes each batch's values different.
    static func randomBatch(_ n: Int, embedding: [Int], labelSize: Int, classes: Int, seed: UInt64) -> LocalBatch {
        let count = n * embedding.reduce(1, *)
        return LocalBatch(embeddings: Tensor(shape: [n] + embedding, data: CounterRNG(seed: seed).normals(count)),
                          labels: (0..<n * labelSize * labelSize).map { Int32($0 % classes) }, labelSize: labelSize)
    }

    /// The median seconds of a training step (forward, loss, backward, Adam) over `batches`, one
    /// step each, the first not timed (it sizes the workspace). Plain loops, as training runs them.
    static func medianStep<H: SegmentationHead>(_ step: inout HeadStep<H>, state: inout TrainableState,
                                                frozen: FrozenState, batches: [LocalBatch]) throws -> Double {
        var times: [Double] = []
        for batch in batches {
            let start = Date()
            _ = try step.run(batch, globalCount: batch.count, state: &state, frozen: frozen,
                             comm: SingleProcessCommunicator(), backward: true)
            state.step()
            times.append(Date().timeIntervalSince(start))
        }
        return median(Array(times.dropFirst()))
    }

    /// A training checkpoint of `state` after `steps` steps (an empty split; what is timed is the write).
    static func checkpoint(_ state: TrainableState, frozen: FrozenState, config: ExperimentConfig,
                           steps: Int) throws -> TrainingCheckpoint {
        let empty = #"{"fold": 0, "train": [], "val": [], "test": []}"#
        let split = try JSONDecoder().decode(Split.self, from: Data(empty.utf8))
        return TrainingCheckpoint(trainable: state, frozen: frozen, epoch: 0, step: steps,
                                  scheduler: ReduceLROnPlateau(),
                                  bestValidationLoss: .infinity, bestEpoch: 0, lastTrainingLoss: 1, seed: 0,
                                  worldSize: 1, config: config, split: split)
    }
}
