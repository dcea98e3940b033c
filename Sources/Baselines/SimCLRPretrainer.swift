import Collectives
import Config
import Datasets
import Embeddings
import Evaluation
import Foundation
import Heads
import Layers
import Optim
import Runs
import Tensors
import Training

/// SimCLR pretraining of the UNet encoder (issue 8) on the ranks of `comm`, with the global-batch
/// semantics of the fine-tuning (DESIGN §2): every step takes a global batch of N slices in a
/// seeded order, deals it round-robin over the ranks, each rank makes two augmented views of its
/// slices and their projections z, the NT-Xent loss of the whole global batch is computed from
/// all-gathered projections (`DistributedNTXent`: every view's negatives are the other 2N - 2 views
/// of all ranks), each rank backpropagates the exact gradient of its own rows, the parameter
/// gradients are summed over the ranks and every rank takes the same Adam step, so parameters
/// stay identical and the result does not depend on the rank count (up to float summation order).
///
/// Views: the training augmentation (DESIGN §3.6) of the slice with two independent random
/// streams per (seed, view, epoch, slice). A last global batch of a single slice is skipped
/// (NT-Xent needs a negative). With `pretrain.micro_batch` a rank's views are forwarded in chunks
/// for the projections, then re-forwarded chunk by chunk for the backward pass (the last chunk's
/// activations are still in place), bounding memory by the chunk.
public final class SimCLRPretrainer {
    public let network: SimCLRNetwork
    public let config: ExperimentConfig
    public let seed: Int
    public let comm: Communicator
    public let worldSize: Int
    /// Where the coordinator writes pretraining checkpoints (nil on other ranks).
    public let store: CheckpointStore?
    public let log: RunLog
    let augmentation: AugmentationConfig
    public private(set) var state: TrainableState
    public private(set) var epochsDone = 0
    var stepsDone = 0
    var lastLoss = Double.nan
    /// The steps of the current epoch restored from a mid-epoch checkpoint.
    var resumedPartial: TrainingCheckpoint.PartialEpoch?
    public private(set) var records: [PretrainEpochRecord] = []
    private var workspace = SimCLRWorkspace()

    public init(network: SimCLRNetwork, config: ExperimentConfig, seed: Int, comm: Communicator, worldSize: Int,
                augmentation: AugmentationConfig, store: CheckpointStore?, log: RunLog) throws {
        (self.network, self.config, self.seed, self.comm, self.worldSize) = (network, config, seed, comm, worldSize)
        (self.augmentation, self.store, self.log) = (augmentation, store, log)
        var params = network.initialParameters(seed: UInt64(seed))
        try comm.broadcast(&params, root: 0)
        state = TrainableState(layout: network.layout, params: params, lr: config.pretrain.lr)
    }

    /// All epochs done: the encoder is ready for fine-tuning.
    public var isComplete: Bool { epochsDone >= config.pretrain.epochs }

    /// The pretrained UNet encoder's tensors by state-dict name.
    public var encoderTensors: [(String, Tensor)] { network.encoderTensors(state.params) }

    /// Continues from a pretraining checkpoint (same seed; the caller checked the config).
    public func restore(_ checkpoint: TrainingCheckpoint) throws {
        state = try checkpoint.trainableState(continuing: state)
        (epochsDone, stepsDone) = (checkpoint.state.epoch, checkpoint.state.step)
        lastLoss = checkpoint.state.lastTrainingLoss
        resumedPartial = checkpoint.state.partialEpoch
    }

    /// Pretrains the remaining epochs on the slices of `set` (labels unused), stopping after
    /// `stopAfter` epochs of this call when given. Stop requests are agreed at every step
    /// boundary as in fine-tuning (the coordinator checkpoints the step, then `Preempted`).
    public func train(_ set: SliceSet, split: Split, stopAfter: Int? = nil) throws {
        guard set.count >= 2 else {
            throw ConfigError(source: "pretrain", message: "SimCLR needs at least 2 unlabelled slices, "
                              + "the fold's training patients have \(set.count)")
        }
        let n = config.pretrain.batch_size
        var epochsThisCall = 0
        while epochsDone < config.pretrain.epochs {
            if let stopAfter, epochsThisCall >= stopAfter { return }
            var partial = resumedPartial ?? TrainingCheckpoint.PartialEpoch()
            resumedPartial = nil
            let started = Date().addingTimeInterval(-partial.seconds), epoch = epochsDone
            let order = CounterRNG(seed: UInt64(seed), stream: Self.orderStream).substream(UInt64(epoch))
                .permutation(set.count)
            let starts = Array(stride(from: 0, to: order.count, by: n).filter { order.count - $0 >= 2 })
            for start in starts.dropFirst(partial.steps) {
                lastLoss = try step(Array(order[start..<min(order.count, start + n)]), set: set, epoch: epoch)
                partial.loss += lastLoss
                partial.steps += 1
                partial.seconds = Date().timeIntervalSince(started)
                stepsDone += 1
                if try StopRequest.agreed(in: comm) {
                    if comm.isCoordinator, let store {
                        var checkpoint = checkpoint(split: split)
                        checkpoint.state.partialEpoch = partial
                        try store.write(checkpoint)
                        log.info("seed \(seed): stop requested: "
                                 + "SimCLR checkpoint \(store.folder(checkpoint.name).path) written")
                    }
                    try comm.barrier()
                    throw Preempted("seed \(seed) SimCLR pretraining at epoch \(epoch + 1), "
                                    + "step \(partial.steps) of \(starts.count)")
                }
            }
            let steps = partial.steps
            epochsDone += 1
            epochsThisCall += 1
            let record = PretrainEpochRecord(seed: seed, epoch: epochsDone, step: stepsDone,
                                             loss: partial.loss / Double(max(steps, 1)),
                                             seconds: Date().timeIntervalSince(started))
            records.append(record)
            if comm.isCoordinator {
                log.info(String(format: "seed %d SimCLR epoch %d/%d  NT-Xent %.4f  %d steps  %.1fs", seed, record.epoch,
                                config.pretrain.epochs, record.loss, steps, record.seconds))
                try log.append(record)
                if let store, epochsDone % config.output.checkpoint_every == 0 || isComplete {
                    try store.write(checkpoint(split: split))
                }
            }
            try comm.barrier()
        }
    }

    /// One optimiser step on the global batch `global` (slice ids); returns the NT-Xent loss.
    func step(_ global: [Int], set: SliceSet, epoch: Int) throws -> Double {
        let mine = BatchSharding.share(global, rank: comm.rank, size: comm.size)
        let rows = 2 * mine.count, d = network.projectionDim
        let images = views(mine, set: set, epoch: epoch)
        let chunk = config.pretrain.micro_batch == 0 ? max(rows, 1) : config.pretrain.micro_batch
        let chunks = stride(from: 0, to: rows, by: chunk).map { $0..<min(rows, $0 + chunk) }
        var z = [Float](repeating: 0, count: max(rows * d, 1))
        for range in chunks {
            let part = network.forward(Self.rows(range, of: images), parameters: state.params, workspace: &workspace)
            z.replaceSubrange(range.lowerBound * d ..< range.upperBound * d, with: part.data)
        }
        var dZ = [Float](repeating: 0, count: z.count)
        let loss = try DistributedNTXent.lossAndGradient(dZ: &dZ, z: z, localSamples: mine.count, dim: d,
                                                         temperature: config.pretrain.temperature, communicator: comm)
        state.zeroGradients()
        for (k, range) in chunks.enumerated().reversed() {
            if k != chunks.count - 1 {
                _ = network.forward(Self.rows(range, of: images), parameters: state.params, workspace: &workspace)
            }
            dZ.withUnsafeBufferPointer {
                network.backward($0.baseAddress! + range.lowerBound * d, parameters: state.params,
                                 gradients: &state.grads, workspace: &workspace)
            }
        }
        try comm.allReduceSum(&state.grads)
        let position = "SimCLR epoch \(epoch + 1), step \(stepsDone + 1)"
        guard loss.isFinite else { throw TrainingError.nonFinite("NT-Xent loss at \(position) (\(loss))") }
        try StepTail.finish(&state, comm: comm, verifyRanks: config.run.verify_ranks, position: position)
        return loss
    }

    /// The network input (2m, C, S, S) of m slices: their first views, then their second views.
    func views(_ ids: [Int], set: SliceSet, epoch: Int) -> Tensor {
        let s = augmentation.outputSize, c = augmentation.channels
        var data: [Float] = []
        data.reserveCapacity(2 * ids.count * c * s * s)
        for view in 0..<2 {
            let augmenter = Augmenter(config: augmentation, seed: viewSeed(view))
            for id in ids { data += augmenter.augment(set, slice: id, epoch: epoch).image.data }
        }
        return Tensor(shape: [2 * ids.count, c, s, s], data: data)
    }

    /// The augmentation seed of view 0 or 1 of this run seed (distinct from the fine-tuning's).
    func viewSeed(_ view: Int) -> UInt64 {
        UInt64(bitPattern: Int64(seed)) &* 0x9E37_79B9_7F4A_7C15 &+ Self.orderStream &+ UInt64(view)
    }

    static let orderStream: UInt64 = 0x51C1_AB00

    /// Items `range` of a batch tensor (`t` itself when the range covers it).
    static func rows(_ range: Range<Int>, of t: Tensor) -> Tensor {
        if range == 0..<t.shape[0] { return t }
        let per = t.count / t.shape[0]
        return Tensor(shape: [range.count] + t.shape.dropFirst(),
                      data: Array(t.data[range.lowerBound * per ..< range.upperBound * per]))
    }

    func checkpoint(split: Split) -> TrainingCheckpoint {
        TrainingCheckpoint(trainable: state, frozen: .empty, epoch: epochsDone, step: stepsDone,
                           scheduler: ReduceLROnPlateau(),
                           bestValidationLoss: .nan, bestEpoch: epochsDone, lastTrainingLoss: lastLoss, seed: seed,
                           worldSize: worldSize, config: config, split: split)
    }
}

extension SimCLRPretrainer: ResumableTrainer {
    public var resumeCounters: [Int] { [epochsDone, stepsDone] }
    public var resumedParameters: [Float] { state.params }
}
