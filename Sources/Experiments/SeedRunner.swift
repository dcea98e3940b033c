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
        if comm.isCoordinator {
            try FileManager.default.createDirectory(at: seedDir, withIntermediateDirectories: true)
        }
        try comm.barrier()
        let store = CheckpointStore(root: seedDir.appendingPathComponent("checkpoints"),
                                    keep: config.output.keep_checkpoints)
        let log = RunLog(rank: experiment.world.rank,
                         metricsFile: comm.isCoordinator ? seedDir.appendingPathComponent("metrics.jsonl") : nil,
                         verbose: config.run.debug_checks)
        var budget = stopAfterEpochs
        guard let pretrained = try pretrainedEncoder(head, seedDir: seedDir, log: log, budget: &budget) else {
            return nil
        }
        let trainer = try SeedTrainer(head: head, config: config, seed: seed, comm: comm,
                                      worldSize: experiment.world.size, provider: provider,
                                      store: comm.isCoordinator ? store : nil, log: log, pretrained: pretrained)
        trainer.dataIdentity = dataIdentity
        trainer.afterStep = experiment.afterStep
        trainer.progress = experiment.progress
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
        experiment.progress?.begin(.test)
        defer { experiment.progress?.pause(.test) }
        guard let maps = try predictor.predictAll(data.test, params: trainer.testParameters, template: trainer.state,
                                                  frozen: trainer.frozen, comm: comm) else { return nil }
        experiment.progress?.advance(.test, by: data.test.volumes.count,
                                     detail: "seed \(seed): \(data.test.volumes.count) test volumes predicted")
        return try experiment.writeSeedResults(seed: seed, volumes: data.test.volumes, maps: maps)
    }

    /// The SimCLR-pretrained encoder tensors for a UNet with `pretrain.method = simclr` ([] for
    /// any other run), pretrained now on the fold's unlabelled training slices or continued from /
    /// taken from the newest complete pretraining checkpoint when resuming. Pretraining epochs
    /// of this invocation count against `budget` (`--stop-after-epochs`); nil when it ran out
    /// before pretraining finished. The coordinator also exports `pretrain/encoder.safetensors`.
    private func pretrainedEncoder<H: SegmentationHead>(_ head: H, seedDir: URL, log: RunLog,
                                                        budget: inout Int?) throws -> [(String, Tensor)]? {
        let config = experiment.config
        guard config.pretrain.method == .simclr, let set = data.unlabelled,
              let network = head.selfSupervisedNetwork(projectionHidden: config.pretrain.projection_hidden,
                                                       projectionDim: config.pretrain.projection_dim) else { return [] }
        let dir = seedDir.appendingPathComponent("pretrain")
        if comm.isCoordinator { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) }
        try comm.barrier()
        let store = CheckpointStore(root: dir.appendingPathComponent("checkpoints"),
                                    keep: config.output.keep_checkpoints)
        let pretrainLog = RunLog(rank: log.rank,
                                 metricsFile: comm.isCoordinator ? dir.appendingPathComponent("metrics.jsonl") : nil,
                                 verbose: log.verbose)
        let trainer = try SimCLRPretrainer(network: network, config: config, seed: seed, comm: comm,
                                           worldSize: experiment.world.size, augmentation: provider.augmentation,
                                           store: comm.isCoordinator ? store : nil, log: pretrainLog)
        if resume != .none,
           let checkpoint = try shared({ newestValidFiles(store, log: log) }).map({ try validated($0, log: log) }) {
            try trainer.restore(checkpoint)
            try verifyAgreement(trainer)
            if comm.isCoordinator { try pretrainLog.keepRecords(throughEpoch: checkpoint.state.epoch) }
            log.info("seed \(seed): SimCLR pretraining resumed at \(checkpoint.name)")
        }
        let before = trainer.epochsDone
        if !trainer.isComplete {
            log.info("seed \(seed): SimCLR pretraining of the UNet encoder "
                     + "(\(network.layout.totalCount) parameters) on \(set.count) slices")
        }
        try trainer.train(set, split: data.split, stopAfter: budget)
        budget = budget.map { $0 - (trainer.epochsDone - before) }
        guard trainer.isComplete else { return nil }
        if comm.isCoordinator && trainer.epochsDone > before {
            try SafeTensorsFile.write(trainer.encoderTensors,
                                      metadata: ["method": "simclr", "epochs": "\(trainer.epochsDone)"],
                                      to: dir.appendingPathComponent("encoder.safetensors"))
        }
        return trainer.encoderTensors
    }
}
