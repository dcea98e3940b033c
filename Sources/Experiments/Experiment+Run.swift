import Baselines
import Checkpoints
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

extension Experiment {
    /// Trains every seed and evaluates it on the test set; the world coordinator writes
    /// `summary.json`, per-seed CSVs and predictions, prints the table and returns the summary
    /// (nil on other ranks). A `sam_box` config runs `runBoxBaseline` instead. The coordinator
    /// holds the run folder's `RunLock` throughout (`lock`, when the caller took it already to
    /// write `config.json`), so a second run on the same folder fails instead of mixing files.
    @discardableResult
    public func run(resume: ResumeMode = .none, stopAfterEpochs: Int? = nil, holding lock: RunLock? = nil) throws -> RunSummary? {
        CollectiveWatchdog.shared.timeout = config.run.collective_timeout
        let held = try lock ?? (world.isCoordinator ? RunLock(folder: outputDir) : nil)
        defer { held?.release() }
        if config.head.kind == .samBox { return try runBoxBaseline() }   // nothing to train or resume
        let data = try prepareData()
        let provider = try makeProvider()
        let started = Date()
        try provider.prebuild(train: data.train, evaluation: [data.validation, data.test], comm: world) { done, total in
            if world.isCoordinator && (done % 20 == 0 || done == total) {
                log.info("embedding cache: \(done)/\(total) slices on this rank, \(String(format: "%.1f", Date().timeIntervalSince(started)))s")
            }
        }
        let (seeds, comm) = try seedGroups()
        let identity = data.train.identity + data.validation.identity
        var results: [SeedResult] = []
        var stopped: Preempted? = nil
        for seed in seeds {
            let head = try HeadFactory.make(config, inputChannels: provider.encoder.embeddingShape[0])
            do {
                if let r = try head.visit(SeedRunner(experiment: self, seed: seed, comm: comm, data: data, provider: provider,
                                                     resume: resume, stopAfterEpochs: stopAfterEpochs, dataIdentity: identity)) {
                    results.append(r)
                }
            } catch let stop as Preempted {
                stopped = stop
                break
            }
        }
        // Seed groups stop on their own communicators; the world learns of any group's stop here,
        // after every group's training (a group without a stop request finishes its seed).
        if comm !== world {
            var anyStopped: [Double] = [stopped == nil ? 0 : 1]
            try world.allReduceMax(&anyStopped)
            if anyStopped[0] > 0 { throw stopped ?? Preempted("another seed group stopped on request") }
        } else if let stopped {
            throw stopped
        }
        if stopAfterEpochs != nil { return nil }
        return try summarise(results)
    }

    private func summarise(_ mine: [SeedResult]) throws -> RunSummary? {
        let gathered = try world.gather(try JSONEncoder().encode(mine).map { $0 }, root: 0)
        guard let gathered else { return nil }
        let all = try gathered.flatMap { try JSONDecoder().decode([SeedResult].self, from: Foundation.Data($0)) }
        return try writeSummary(all)
    }

    /// Coordinator: metrics of every labelled volume at native resolution (medpy-exact, standard
    /// mode), the predictions as NIfTI (the source's header and affine) in
    /// `seed_<s>/predictions/` and `seed_<s>/test_volumes.csv`.
    func writeSeedResults(seed: Int, volumes: [Volume], maps: [[UInt8]]) throws -> SeedResult {
        let seedDir = outputDir.appendingPathComponent("seed_\(seed)")
        let predictions = seedDir.appendingPathComponent("predictions")
        try FileManager.default.createDirectory(at: predictions, withIntermediateDirectories: true)
        var scores: [VolumeScores] = []
        for (volume, labels) in zip(volumes, maps) {
            guard let score = volume.scores(of: labels, classes: config.data.classes) else { continue }
            scores.append(score)
            try volume.prediction(labels).write(to: predictions.appendingPathComponent(volume.name + ".nii.gz"))
        }
        let names = ClassNames.forClasses(config.data.classes)
        try ScoreCSV.perVolume(scores, classNames: names).write(to: seedDir.appendingPathComponent("test_volumes.csv"),
                                                                atomically: true, encoding: .utf8)
        return SeedResult(seed: seed, volumes: scores)
    }

    /// Coordinator: the per-seed and over-seed summaries, written atomically to `summary.json`
    /// and printed as a table.
    func writeSummary(_ results: [SeedResult], metrics: [Metric] = [.dice, .assd]) throws -> RunSummary {
        let all = results.sorted { $0.seed < $1.seed }
        let names = ClassNames.forClasses(config.data.classes)
        let perSeed = all.map { ScoreSummary(volumes: $0.volumes, classNames: names, mode: .standard) }
        let summary = RunSummary(name: config.name, seeds: all.map(\.seed), perSeed: perSeed, overSeeds: ScoreSummary(seeds: perSeed))
        let pretty = JSONEncoder()
        pretty.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try pretty.encode(summary), to: outputDir.appendingPathComponent("summary.json"))
        print(summary.table(metrics: metrics).render())
        return summary
    }
}

/// Trains and tests one seed for a concrete head type.
struct SeedRunner: HeadVisitor {
    let experiment: Experiment
    let seed: Int
    let comm: Communicator
    let data: Experiment.Data
    let provider: EmbeddingProvider
    let resume: ResumeMode
    let stopAfterEpochs: Int?
    /// `SliceSet.identity` of the training and validation data, recorded in and checked against checkpoints.
    let dataIdentity: String

    func visit<H: SegmentationHead>(_ head: H) throws -> SeedResult? {
        let config = experiment.config
        let seedDir = experiment.outputDir.appendingPathComponent("seed_\(seed)")
        if comm.isCoordinator { try FileManager.default.createDirectory(at: seedDir, withIntermediateDirectories: true) }
        try comm.barrier()
        let store = CheckpointStore(root: seedDir.appendingPathComponent("checkpoints"), keep: config.output.keep_checkpoints)
        let log = RunLog(rank: experiment.world.rank, metricsFile: comm.isCoordinator ? seedDir.appendingPathComponent("metrics.jsonl") : nil,
                         verbose: config.run.debug_checks)
        var budget = stopAfterEpochs
        guard let pretrained = try pretrainedEncoder(head, seedDir: seedDir, log: log, budget: &budget) else { return nil }
        let trainer = try SeedTrainer(head: head, config: config, seed: seed, comm: comm, worldSize: experiment.world.size,
                                      provider: provider, store: comm.isCoordinator ? store : nil, log: log, pretrained: pretrained)
        trainer.dataIdentity = dataIdentity
        trainer.afterStep = experiment.afterStep
        if let checkpoint = try resumeCheckpoint(store, log: log) {
            try trainer.restore(checkpoint, best: try bestCheckpoint(of: checkpoint, in: store, log: log))
            try verifyAgreement(trainer)
            if comm.isCoordinator { try log.keepRecords(throughEpoch: checkpoint.state.epoch) }
            log.info("seed \(seed): resumed at \(checkpoint.name) (step \(checkpoint.state.step))")
        }
        try trainer.train(train: data.train, validation: data.validation, split: data.split, stopAfter: budget)
        if stopAfterEpochs != nil { return nil }
        var predictor = VolumePredictor(head: head, provider: provider, sliceSize: config.data.slice_size,
                                        batchSize: config.optim.batch_size)
        guard let maps = try predictor.predictAll(data.test, params: trainer.testParameters, template: trainer.state,
                                                  frozen: trainer.frozen, comm: comm) else { return nil }
        return try experiment.writeSeedResults(seed: seed, volumes: data.test.volumes, maps: maps)
    }

    /// The store a resume reads from: the given checkpoint's folder, or this seed's own.
    private func resumeStore(_ store: CheckpointStore) -> CheckpointStore {
        if case .path(let url) = resume { return CheckpointStore(root: url.deletingLastPathComponent(), keep: .max) }
        return store
    }

    /// The checkpoint to continue from (nil: start fresh), chosen, read and verified by the
    /// coordinator alone and broadcast to every rank of `comm` (DESIGN §4.7, issue 15): ranks never
    /// decide on their own view of the run folder, so they cannot resume from different epochs.
    /// Every rank then checks that it may continue this run (`validated`).
    private func resumeCheckpoint(_ store: CheckpointStore, log: RunLog) throws -> TrainingCheckpoint? {
        guard resume != .none else { return nil }
        let source = resumeStore(store)
        return try shared {
            if case .path(let url) = resume {     // verified by every rank after the broadcast
                guard let name = CheckpointName(folderName: url.lastPathComponent) else {
                    throw RunFileError(path: url.path, message: "not a checkpoint folder name (epoch_NNNN or epoch_NNNN_step_NNNNN)")
                }
                return try source.readFiles(name)
            }
            return newestValidFiles(source, log: log)
        }.map { try validated($0, log: log) }
    }

    /// The coordinator's `pick` (run on it alone; nil for none), sent to every rank of `comm` and
    /// verified there. The coordinator's failure ends the job as any rank's does.
    private func shared(_ pick: () throws -> CheckpointFiles?) throws -> TrainingCheckpoint? {
        var message = comm.isCoordinator ? (try pick()?.serialized() ?? []) : []
        try comm.broadcast(&message, root: 0)
        guard !message.isEmpty else { return nil }
        guard let files = CheckpointFiles(serialized: message) else {
            throw CollectiveError(rank: comm.rank, operation: "checkpoint broadcast", detail: "malformed message of \(message.count) bytes")
        }
        return try files.verified()
    }

    /// The checkpoint of the best validated epoch recorded in `checkpoint` (the store keeps it),
    /// when that is an earlier epoch, read by the coordinator and broadcast; with
    /// `optim.test_model = best` it must be readable, since testing uses its weights.
    private func bestCheckpoint(of checkpoint: TrainingCheckpoint, in store: CheckpointStore, log: RunLog) throws -> TrainingCheckpoint? {
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
                throw TrainingError.resume("optim.test_model is best, but the best epoch's checkpoint \(source.folder(epoch: best).path) cannot be read: \(error)")
            }
        }
    }

    /// Coordinator: the files of the newest complete checkpoint of `store` that verifies
    /// (damaged ones are logged and skipped).
    private func newestValidFiles(_ store: CheckpointStore, log: RunLog) -> CheckpointFiles? {
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
    private func verifyAgreement(_ trainer: ResumableTrainer) throws {
        guard try comm.isBitIdentical(trainer.resumeCounters.map(Float.init) + trainer.resumedParameters) else {
            throw TrainingError.diverged("ranks disagree on the resumed state (epoch, step or parameters)")
        }
    }

    /// `checkpoint` if it may continue this run: same seed, no blocking config change, the same
    /// split and (when recorded) the same training and validation data.
    private func validated(_ checkpoint: TrainingCheckpoint, log: RunLog) throws -> TrainingCheckpoint {
        let split = ["train": data.split.train, "val": data.split.val, "test": data.split.test]
        for part in ["train", "val", "test"] where checkpoint.state.splitPatients[part] != split[part] {
            let was = Set(checkpoint.state.splitPatients[part] ?? []), now = Set(split[part] ?? [])
            throw TrainingError.resume("the \(part) split differs from the checkpoint's (added \(now.subtracting(was).sorted()), "
                                       + "removed \(was.subtracting(now).sorted())): was split.json edited or the data changed?")
        }
        if let recorded = checkpoint.state.dataIdentity, recorded != dataIdentity {
            throw TrainingError.resume("the training or validation volumes differ from the ones the checkpoint was trained on "
                                       + "(content checksum): the data changed since")
        }
        let blocking = ConfigDiff.blocking(checkpoint.state.config, experiment.config)
        guard blocking.isEmpty else {
            throw TrainingError.resume("the checkpoint's config differs: " + blocking.map { "\($0.key): \($0.old) -> \($0.new)" }.joined(separator: "; "))
        }
        guard checkpoint.state.seed == seed else {
            throw TrainingError.resume("the checkpoint is of seed \(checkpoint.state.seed), not \(seed)")
        }
        for d in ConfigDiff.differences(checkpoint.state.config, experiment.config) {
            log.info("resume: \(d.key) changed \(d.old) -> \(d.new)")
        }
        if checkpoint.state.worldSize != experiment.world.size {
            log.info("resume: world size \(checkpoint.state.worldSize) -> \(experiment.world.size) (identical within float tolerance, not bit-identical)")
        }
        return checkpoint
    }

    /// The SimCLR-pretrained encoder tensors for a UNet with `pretrain.method = simclr` ([] for
    /// any other run), pretrained now on the fold's unlabelled training slices or continued from /
    /// taken from the newest complete pretraining checkpoint when resuming. Pretraining epochs
    /// of this invocation count against `budget` (`--stop-after-epochs`); nil when it ran out
    /// before pretraining finished. The coordinator also exports `pretrain/encoder.safetensors`.
    private func pretrainedEncoder<H: SegmentationHead>(_ head: H, seedDir: URL, log: RunLog,
                                                        budget: inout Int?) throws -> [(String, Tensor)]? {
        let config = experiment.config
        guard config.pretrain.method == .simclr, let unet = head as? UNet, let set = data.unlabelled else { return [] }
        let dir = seedDir.appendingPathComponent("pretrain")
        if comm.isCoordinator { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) }
        try comm.barrier()
        let store = CheckpointStore(root: dir.appendingPathComponent("checkpoints"), keep: config.output.keep_checkpoints)
        let network = SimCLRNetwork(unet: unet, projectionHidden: config.pretrain.projection_hidden,
                                    projectionDim: config.pretrain.projection_dim)
        let pretrainLog = RunLog(rank: log.rank, metricsFile: comm.isCoordinator ? dir.appendingPathComponent("metrics.jsonl") : nil,
                                 verbose: log.verbose)
        let trainer = try SimCLRPretrainer(network: network, config: config, seed: seed, comm: comm, worldSize: experiment.world.size,
                                           augmentation: provider.augmentation, store: comm.isCoordinator ? store : nil, log: pretrainLog)
        if resume != .none, let checkpoint = try shared({ newestValidFiles(store, log: log) }).map({ try validated($0, log: log) }) {
            try trainer.restore(checkpoint)
            try verifyAgreement(trainer)
            if comm.isCoordinator { try pretrainLog.keepRecords(throughEpoch: checkpoint.state.epoch) }
            log.info("seed \(seed): SimCLR pretraining resumed at \(checkpoint.name)")
        }
        let before = trainer.epochsDone
        if !trainer.isComplete {
            log.info("seed \(seed): SimCLR pretraining of the UNet encoder (\(network.layout.totalCount) parameters) on \(set.count) slices")
        }
        try trainer.train(set, split: data.split, stopAfter: budget)
        budget = budget.map { $0 - (trainer.epochsDone - before) }
        guard trainer.isComplete else { return nil }
        if comm.isCoordinator && trainer.epochsDone > before {
            try SafeTensorsFile.write(trainer.encoderTensors, metadata: ["method": "simclr", "epochs": "\(trainer.epochsDone)"],
                                      to: dir.appendingPathComponent("encoder.safetensors"))
        }
        return trainer.encoderTensors
    }
}
