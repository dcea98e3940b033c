import Collectives
import Config
import Datasets
import Embeddings
import Foundation
import Heads
import Runs
import Training

/// Every seed's trained head of a run, used together (`autosam predict --ensemble`): the frozen
/// encoder runs once per slice, each seed's head runs on that embedding, the class probabilities
/// (softmax per seed) are averaged over seeds and argmaxed (`EnsemblePredictor`, `EnsembleMath`).
///
/// Each seed's checkpoint is the one single-seed `predict` picks (`RunPrediction`: the newest
/// complete one, or the best-validation one when the config tests `best`). Everything is checked
/// when the ensemble is made, before anything is predicted or written: at least two seeds, a
/// checkpoint for each, each trained with the run's config, and the same parameters (names and
/// shapes) in every seed's checkpoint.
public struct EnsemblePrediction {
    public let run: URL
    public let config: ExperimentConfig
    /// One per seed of the config, in its order.
    public let members: [RunPrediction]

    public init(run: URL) throws {
        let configFile = run.appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: configFile.path) else {
            throw RunFileError(path: configFile.path,
                               message: "no resolved config: is \(run.path) a run folder written by `autosam train`?")
        }
        let config = try ConfigLoader.load(file: configFile)
        guard config.head.kind != .samBox else {
            throw RunFileError(path: run.path, message: "a sam_box run has no trained heads to ensemble")
        }
        guard config.seeds.count >= 2 else {
            throw RunFileError(path: run.path, message: "a seed ensemble needs at least 2 seeds; this run has "
                               + "\(config.seeds.count) (seeds \(config.seeds) in config.json)")
        }
        let members = try config.seeds.map { try RunPrediction(run: run, seed: $0) }
        let reference = Self.parameterShapes(members[0])
        for member in members.dropFirst() {
            let shapes = Self.parameterShapes(member)
            guard shapes != reference else { continue }
            let differing = Set(shapes.keys).union(reference.keys).filter { shapes[$0] != reference[$0] }.sorted()
            throw RunFileError(path: member.checkpointFolder.path,
                               message: "seed \(member.seed)'s head does not match seed \(members[0].seed)'s "
                               + "(\(members[0].checkpointFolder.path)): parameters differ in "
                               + differing.prefix(5).map { "\($0) \(shapes[$0] ?? []) vs \(reference[$0] ?? [])" }
                                   .joined(separator: ", "))
        }
        (self.run, self.config, self.members) = (run, config, members)
    }

    private static func parameterShapes(_ member: RunPrediction) -> [String: [Int]] {
        Dictionary(member.checkpoint.params.map { ($0.0, $0.1.shape) }, uniquingKeysWith: { a, _ in a })
    }

    /// The seeds and the checkpoints they use, as the summary records them.
    public var summaryMembers: [EnsembleSummary.Member] {
        members.map { .init(seed: $0.seed, epoch: $0.checkpoint.state.epoch, checkpoint: $0.checkpointFolder.path) }
    }

    /// Segments every volume of `set` with the ensemble, the volumes sharded over the ranks of
    /// `comm`; the coordinator gets every volume's prediction (nil elsewhere). `progress` is
    /// called on each rank after each of its volumes, with the volume's index.
    public func predict(_ set: SliceSet, comm: Communicator, uncertainty: EnsembleUncertainty?,
                        encoderFactory: (ExperimentConfig) throws -> SliceEncoder,
                        progress: @escaping (Int) -> Void = { _ in }) throws -> [EnsembleVolumePrediction]? {
        let provider = try RunPrediction.inferenceProvider(config, encoderFactory: encoderFactory)
        let head = try HeadFactory.make(config, inputChannels: provider.encoder.embeddingShape[0])
        return try head.visit(EnsembleVisitor(ensemble: self, provider: provider, set: set, comm: comm,
                                              uncertainty: uncertainty, progress: progress))
    }
}

/// Restores every seed's checkpoint into the configured head type and runs `EnsemblePredictor`.
private struct EnsembleVisitor: HeadVisitor {
    let ensemble: EnsemblePrediction
    let provider: EmbeddingProvider
    let set: SliceSet
    let comm: Communicator
    let uncertainty: EnsembleUncertainty?
    let progress: (Int) -> Void

    func visit<H: SegmentationHead>(_ head: H) throws -> [EnsembleVolumePrediction]? {
        let members = try ensemble.members.map { member -> EnsemblePredictor<H>.Member in
            let restored = try member.restored(into: head, provider: provider)
            var state = restored.template
            state.params = restored.params
            return (state, restored.frozen)
        }
        let config = ensemble.config
        var predictor = EnsemblePredictor(head: head, provider: provider, sliceSize: config.data.slice_size,
                                          batchSize: config.optim.batch_size, members: members,
                                          uncertainty: uncertainty)
        return try predictor.predictAll(set, comm: comm, progress: progress)
    }
}
