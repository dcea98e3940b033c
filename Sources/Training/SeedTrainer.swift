import TensorFiles
import Collectives
import Config
import Datasets
import Embeddings
import Foundation
import Heads
import Layers
import Optim
import Runs
import Tensors

/// Trains one head for one seed on the ranks of `comm` with the reference semantics (DESIGN
/// §3.5): CE + batch soft-Dice, Adam, ReduceLROnPlateau stepped with the last training loss from
/// `scheduler_start_epoch` on, validation Dice loss every `validate_every` epochs (every epoch by
/// default), checkpoints by the coordinator.
/// Every rank runs the same loop on its share of each global batch; parameters stay identical.
public final class SeedTrainer<Head: SegmentationHead> {
    public let config: ExperimentConfig
    public let seed: Int
    public let comm: Communicator
    public let provider: EmbeddingProvider
    public let store: CheckpointStore?
    public let log: RunLog
    public let worldSize: Int
    var step: HeadStep<Head>
    public private(set) var state: TrainableState
    public private(set) var frozen: FrozenState
    var scheduler = ReduceLROnPlateau()
    var epochsDone = 0
    var stepsDone = 0
    var bestValidation = Double.infinity
    var bestEpoch = 0
    var bestParams: [Float]
    var lastTrainingLoss = Double.nan
    /// The steps of the current epoch restored from a mid-epoch checkpoint.
    var resumedPartial: TrainingCheckpoint.PartialEpoch?
    /// When the coordinator last wrote a checkpoint (for `output.checkpoint_every_minutes`).
    var lastCheckpointTime = Date()
    /// Called on every rank after each optimiser step with the steps done so far (fault
    /// injection for tests of preemption).
    public var afterStep: ((Int) -> Void)?
    /// The run's progress (training steps advance it); nil: no progress lines.
    public var progress: RunProgress?
    public private(set) var records: [EpochRecord] = []
    /// The identity of the training and validation data (`SliceSet.identity`), recorded in
    /// checkpoints so a resume on other data is refused; set by the caller.
    public var dataIdentity: String?
    /// Seconds per phase in the current epoch (printed in the debug mode).
    var phaseSeconds: [String: Double] = [:]

    /// `pretrained` tensors (by state-dict name, e.g. a SimCLR-pretrained UNet encoder) replace
    /// their initial values.
    public init(head: Head, config: ExperimentConfig, seed: Int, comm: Communicator, worldSize: Int,
                provider: EmbeddingProvider, store: CheckpointStore?, log: RunLog,
                pretrained: [(String, Tensor)] = []) throws {
        self.config = config
        self.seed = seed
        self.comm = comm
        self.worldSize = worldSize
        self.provider = provider
        self.store = store
        self.log = log
        self.step = HeadStep(head: head)
        var (trainable, frozen) = head.initialState(seed: UInt64(seed), lr: config.optim.lr)
        // A head that starts from SAM's weights (AutoSAM's mask decoder, DESIGN §3.3) takes them here.
        if head.startsFromSAM, !config.encoder.checkpoint.isEmpty, comm.isCoordinator {
            let archive = try TensorArchives.open(URL(fileURLWithPath: config.encoder.checkpoint))
            let copied = try head.initialise(&trainable, fromSAM: archive)
            log.info("seed \(seed): \(copied.count) tensors initialised from \(archive.path)")
        }
        let (values, report) = trainable.layout.filled(trainable.params, with: pretrained)
        try report.check(source: "the pretrained encoder", requireAll: false)      // it covers the encoder part only
        trainable.params = values
        if !pretrained.isEmpty {
            log.info("seed \(seed): \(pretrained.count) tensors start from the pretrained encoder")
        }
        // The coordinator's initial parameters and random buffers are the ones every rank uses.
        try comm.broadcast(&trainable.params, root: 0)
        var frozenValues = frozen.values
        try comm.broadcast(&frozenValues, root: 0)
        frozen = FrozenState(layout: frozen.layout, values: frozenValues)
        self.state = trainable
        self.frozen = frozen
        self.bestParams = trainable.params
    }

    /// Continues from `checkpoint` (same seed; the caller checked the config). `best` is the
    /// checkpoint of the best validated epoch when that is an earlier one (its weights are the
    /// ones `test_model = best` tests); nil when the restored epoch is the best or none was.
    public func restore(_ checkpoint: TrainingCheckpoint, best: TrainingCheckpoint? = nil) throws {
        let s = checkpoint.state
        state = try checkpoint.trainableState(continuing: state)
        frozen = try checkpoint.frozenState(continuing: frozen)
        scheduler = s.scheduler
        epochsDone = s.epoch
        stepsDone = s.step
        bestValidation = s.bestValidationLoss
        bestEpoch = s.bestEpoch
        lastTrainingLoss = s.lastTrainingLoss
        resumedPartial = s.partialEpoch
        bestParams = try best.map { try $0.trainableState(continuing: state).params } ?? state.params
    }

    /// Trains the remaining epochs (stopping early after `stopAfter` epochs of this call when
    /// given). At every step boundary the ranks agree on stop requests (`StopRequest`): on one,
    /// the coordinator checkpoints that step and every rank throws `Preempted`.
    public func train(train: SliceSet, validation: SliceSet, split: Split, stopAfter: Int? = nil) throws {
        let batch = config.optim.batch_size
        let perEpoch = config.stepsPerEpoch(trainSlices: train.count)
        progress?.skip(.training, units: stepsDone)
        progress?.begin(.training)
        defer { progress?.pause(.training) }
        var epochsThisCall = 0
        while epochsDone < config.optim.epochs {
            if let stopAfter, epochsThisCall >= stopAfter { return }
            var partial = resumedPartial ?? TrainingCheckpoint.PartialEpoch()
            resumedPartial = nil
            let started = Date().addingTimeInterval(-partial.seconds)
            let epoch = epochsDone
            let order = CounterRNG(seed: UInt64(seed), stream: 0x5EED).substream(UInt64(epoch)).permutation(train.count)
            for s in partial.steps..<perEpoch {
                let global = Array(order[(s * batch)..<min(order.count, (s + 1) * batch)])
                let parts = try trainStep(global, set: train, epoch: epoch)
                partial.loss += parts.total
                partial.crossEntropy += parts.crossEntropy
                partial.dice += parts.dice.loss
                partial.steps = s + 1
                partial.seconds = Date().timeIntervalSince(started)
                lastTrainingLoss = parts.total
                stepsDone += 1
                progress?.advance(.training, detail: String(format: "seed %d epoch %d/%d step %d/%d loss %.4f", seed,
                                                            epoch + 1, config.optim.epochs, s + 1, perEpoch, parts.total))
                afterStep?(stepsDone)
                try stepBoundary(partial, of: perEpoch, split: split)
            }
            try finishEpoch(epoch, partial, of: perEpoch, started: started, validation: validation, split: split)
            epochsThisCall += 1
        }
    }

    /// After the last step of `epoch`: validation (when due), the scheduler, the best epoch, the
    /// epoch record and log line, and the coordinator's epoch checkpoint (when due).
    private func finishEpoch(_ epoch: Int, _ partial: TrainingCheckpoint.PartialEpoch, of perEpoch: Int,
                             started: Date, validation: SliceSet, split: Split) throws {
        let validates = (epoch + 1) % config.optim.validate_every == 0
        let validationLoss = validates ? try timed("validation") { try self.validationLoss(validation) } : nil
        if epoch >= config.optim.scheduler_start_epoch && config.optim.scheduler == .plateau {
            state.adam.lr = scheduler.step(metric: Float(lastTrainingLoss), lr: state.adam.lr)
        }
        let improved = validationLoss.map { $0 < bestValidation } ?? false
        if improved, let validationLoss {
            bestValidation = validationLoss
            bestEpoch = epoch + 1
            bestParams = state.params
        }
        epochsDone += 1
        let n = Double(perEpoch)
        let record = EpochRecord(seed: seed, epoch: epochsDone, step: stepsDone, trainLoss: partial.loss / n,
                                 trainCE: partial.crossEntropy / n, trainDice: partial.dice / n,
                                 validationDice: validationLoss, lr: state.adam.lr,
                                 seconds: Date().timeIntervalSince(started))
        records.append(record)
        log.debug("seed \(seed) epoch \(epochsDone) phases: " + phaseSeconds.sorted { $0.key < $1.key }
            .map { String(format: "%@ %.3fs", $0.key, $0.value) }.joined(separator: ", "))
        phaseSeconds = [:]
        if comm.isCoordinator {
            try log.epoch(record, of: config.optim.epochs)
            if let store,
               improved || epochsDone % config.output.checkpoint_every == 0 || epochsDone == config.optim.epochs {
                try store.write(checkpoint(split: split))
                lastCheckpointTime = Date()
            }
        }
        try comm.barrier()
    }

    /// After step `partial.steps` of the current epoch: agree on a stop request (all ranks, one
    /// tiny all-reduce) and checkpoint the step when stopping or when a step checkpoint is due
    /// (`output.checkpoint_every_steps` / `_minutes`, coordinator only; never on an epoch's last
    /// step, whose epoch checkpoint follows). A stop throws `Preempted` on every rank after the
    /// coordinator's checkpoint is complete.
    private func stepBoundary(_ partial: TrainingCheckpoint.PartialEpoch, of perEpoch: Int, split: Split) throws {
        let stop = try timed("stop agreement") { try StopRequest.agreed(in: comm) }
        let output = config.output
        let due = partial.steps < perEpoch
            && ((output.checkpoint_every_steps > 0 && stepsDone % output.checkpoint_every_steps == 0)
                || (output.checkpoint_every_minutes > 0
                    && Date().timeIntervalSince(lastCheckpointTime) >= 60 * output.checkpoint_every_minutes))
        if comm.isCoordinator, let store, stop || due {
            var checkpoint = checkpoint(split: split)
            checkpoint.state.partialEpoch = partial
            try timed("step checkpoint") { try store.write(checkpoint) }
            lastCheckpointTime = Date()
            if stop {
                log.info("seed \(seed): stop requested: checkpoint \(store.folder(checkpoint.name).path) written")
            }
        }
        guard stop else { return }
        try comm.barrier()          // the checkpoint is complete before any rank exits
        throw Preempted("seed \(seed) at epoch \(epochsDone + 1), step \(partial.steps) of \(perEpoch) "
                        + "(\(stepsDone) steps in all)")
    }

    /// Parameters used for testing: last epoch (reference) or best validation loss.
    public var testParameters: [Float] { config.optim.test_model == .best ? bestParams : state.params }

    /// Runs `body`, adding its wall time to `phase`.
    private func timed<T>(_ phase: String, _ body: () throws -> T) rethrows -> T {
        let start = Date()
        defer { phaseSeconds[phase, default: 0] += Date().timeIntervalSince(start) }
        return try body()
    }

    private func trainStep(_ global: [Int], set: SliceSet, epoch: Int) throws -> SegmentationLossParts {
        let mine = BatchSharding.share(global, rank: comm.rank, size: comm.size)
        let batch = try timed("embeddings") {
            try makeBatch(mine, of: set) { try provider.training(set, $0, epoch: epoch, seed: UInt64(seed)) }
        }
        let parts = try timed("head forward/backward + all-reduce") {
            try step.run(batch, globalCount: global.count, state: &state, frozen: frozen, comm: comm, backward: true)
        }
        // The loss is global, so every rank stops together on a NaN or Inf. A Dice term that is NaN
        // because every class is predicted perfectly (the reference's empty mean) is not an error:
        // its gradient is the CE's alone.
        let position = "epoch \(epoch + 1), step \(stepsDone + 1)"
        let diceUndefined = !parts.dice.loss.isFinite && parts.dice.kept.allSatisfy { !$0 }
        guard parts.crossEntropy.isFinite, parts.dice.loss.isFinite || diceUndefined else {
            throw TrainingError.nonFinite("training loss at \(position) (cross-entropy \(parts.crossEntropy), "
                                          + "Dice \(parts.dice.loss))")
        }
        try StepTail.finish(&state, comm: comm, verifyRanks: config.run.verify_ranks, position: position) { state in
            self.timed("adam") { state.step() }
        }
        return parts
    }

    func checkpoint(split: Split) -> TrainingCheckpoint {
        var checkpoint = TrainingCheckpoint(trainable: state, frozen: frozen, epoch: epochsDone, step: stepsDone,
                                            scheduler: scheduler, bestValidationLoss: bestValidation,
                                            bestEpoch: bestEpoch, lastTrainingLoss: lastTrainingLoss,
                                            seed: seed, worldSize: worldSize, config: config, split: split)
        checkpoint.state.dataIdentity = dataIdentity
        return checkpoint
    }
}
