import Baselines
import TensorFiles
import Collectives
import Config
import Datasets
import Embeddings
import Evaluation
import Foundation
import Heads
import Metrics
import Runs
import Tensors
import Training

extension SeedRunner {
    /// The store a resume reads from: the given checkpoint's folder, or this seed's own.
    func resumeStore(_ store: CheckpointStore) -> CheckpointStore {
        if case .path(let url) = resume { return CheckpointStore(root: url.deletingLastPathComponent(), keep: .max) }
        return store
    }

    /// The checkpoint to continue from (nil: start fresh), chosen, read and verified by the
    /// coordinator alone and broadcast to every rank of `comm` (DESIGN §4.7, issue 15): ranks never
    /// decide on their own view of the run folder, so they cannot resume from different epochs.
    /// Every rank then checks that it may continue this run (`validated`).
    func resumeCheckpoint(_ store: CheckpointStore, log: RunLog) throws -> TrainingCheckpoint? {
        guard resume != .none else { return nil }
        let source = resumeStore(store)
        return try shared {
            if case .path(let url) = resume {     // verified by every rank after the broadcast
                guard let name = CheckpointName(folderName: url.lastPathComponent) else {
                    throw RunFileError(path: url.path, message: "not a checkpoint folder name "
                                       + "(epoch_NNNN or epoch_NNNN_step_NNNNN)")
                }
                return try source.readFiles(name)
            }
            return newestValidFiles(source, log: log)
        }.map { try validated($0, log: log) }
    }

    /// The coordinator's `pick` (run on it alone; nil for none), sent to every rank of `comm` and
    /// verified there. The coordinator's failure ends the job as any rank's does.
    func shared(_ pick: () throws -> CheckpointFiles?) throws -> TrainingCheckpoint? {
        var message = comm.isCoordinator ? (try pick()?.serialized() ?? []) : []
        try comm.broadcast(&message, root: 0)
        guard !message.isEmpty else { return nil }
        guard let files = CheckpointFiles(serialized: message) else {
            throw CollectiveError(rank: comm.rank, operation: "checkpoint broadcast",
                                  detail: "malformed message of \(message.count) bytes")
        }
        return try files.verified()
    }

    /// The checkpoint of the best validated epoch recorded in `checkpoint` (the store keeps it),
    /// when that is an earlier epoch, read by the coordinator and broadcast; with
    /// `optim.test_model = best` it must be readable, since testing uses its weights.
    func bestCheckpoint(of checkpoint: TrainingCheckpoint, in store: CheckpointStore,
                        log: RunLog) throws -> TrainingCheckpoint? {
        let best = checkpoint.state.bestEpoch
        guard best >= 1, best != checkpoint.state.epoch || checkpoint.state.partialEpoch != nil else { return nil }
        let source = resumeStore(store), required = experiment.config.optim.test_model == .best
        return try shared {
            do {
                let files = try source.readFiles(epoch: best)
                _ = try files.verified()
                return files
            } catch where !required {
                return nil
            } catch {
                throw TrainingError.resume("optim.test_model is best, but the best epoch's checkpoint "
                                           + "\(source.folder(epoch: best).path) cannot be read: \(error)")
            }
        }
    }

    /// Coordinator: the files of the newest complete checkpoint of `store` that verifies
    /// (damaged ones are logged and skipped).
    func newestValidFiles(_ store: CheckpointStore, log: RunLog) -> CheckpointFiles? {
        for name in store.complete().reversed() {
            do {
                let files = try store.readFiles(name)
                _ = try files.verified()
                return files
            } catch {
                log.info("skipping damaged checkpoint: \(error)")
            }
        }
        return nil
    }

    /// Every rank: the restored state is the same everywhere (epoch and step counters and the
    /// parameters' bits) before the first step.
    func verifyAgreement(_ trainer: ResumableTrainer) throws {
        guard try comm.isBitIdentical(trainer.resumeCounters.map(Float.init) + trainer.resumedParameters) else {
            throw TrainingError.diverged("ranks disagree on the resumed state (epoch, step or parameters)")
        }
    }

    /// `checkpoint` if it may continue this run: same seed, no blocking config change, the same
    /// split and (when recorded) the same training and validation data.
    func validated(_ checkpoint: TrainingCheckpoint, log: RunLog) throws -> TrainingCheckpoint {
        let split = ["train": data.split.train, "val": data.split.val, "test": data.split.test]
        for part in ["train", "val", "test"] where checkpoint.state.splitPatients[part] != split[part] {
            let was = Set(checkpoint.state.splitPatients[part] ?? []), now = Set(split[part] ?? [])
            throw TrainingError.resume("the \(part) split differs from the checkpoint's "
                                       + "(added \(now.subtracting(was).sorted()), "
                                       + "removed \(was.subtracting(now).sorted())): "
                                       + "was split.json edited or the data changed?")
        }
        if let recorded = checkpoint.state.dataIdentity, recorded != dataIdentity {
            throw TrainingError.resume("the training or validation volumes differ from the ones "
                                       + "the checkpoint was trained on (content checksum): the data changed since")
        }
        let blocking = ConfigDiff.blocking(checkpoint.state.config, experiment.config)
        guard blocking.isEmpty else {
            throw TrainingError.resume("the checkpoint's config differs: "
                                       + blocking.map { "\($0.key): \($0.old) -> \($0.new)" }.joined(separator: "; "))
        }
        guard checkpoint.state.seed == seed else {
            throw TrainingError.resume("the checkpoint is of seed \(checkpoint.state.seed), not \(seed)")
        }
        for d in ConfigDiff.differences(checkpoint.state.config, experiment.config) {
            log.info("resume: \(d.key) changed \(d.old) -> \(d.new)")
        }
        if checkpoint.state.worldSize != experiment.world.size {
            log.info("resume: world size \(checkpoint.state.worldSize) -> \(experiment.world.size) "
                     + "(identical within float tolerance, not bit-identical)")
        }
        return checkpoint
    }
}
