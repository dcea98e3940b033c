import Collectives
import Config
import Datasets
import Embeddings
import Foundation
import Heads
import Runs
import Training

/// A trained head of a finished (or interrupted) run, ready to segment new volumes without
/// labels (`autosam predict`, DESIGN §6).
///
/// The run's resolved `config.json` says which encoder, head and slice size to use; the head's
/// parameters come from one of the seed's checkpoints: the newest complete one that verifies, or,
/// when the config tests the `best` model, the best-validation checkpoint it names (as testing
/// did), or an explicit checkpoint folder. Inference is the test path of training
/// (`VolumePredictor`): per-volume z-score, every slice resized to the network size and encoded,
/// the head's logits resized back to the native slice size, argmax. It needs no cache: testing
/// in training also reads full-precision embeddings (fp32 cache entries whatever `cache.dtype`),
/// so predicting a run's test volumes reproduces its own test predictions exactly.
public struct RunPrediction {
    public let config: ExperimentConfig
    public let seed: Int
    public let checkpoint: TrainingCheckpoint
    /// The checkpoint folder used (…/seed_<s>/checkpoints/epoch_NNNN).
    public let checkpointFolder: URL
    /// Damaged checkpoints passed over while looking for the newest complete one.
    public let skipped: [String]

    /// `run`: the run's output folder; `seed`: one of the config's seeds (default: the first);
    /// `checkpoint`: an `epoch_NNNN` folder to use instead of the automatic choice.
    public init(run: URL, seed: Int? = nil, checkpoint: URL? = nil) throws {
        let configFile = run.appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: configFile.path) else {
            throw RunFileError(path: configFile.path,
                               message: "no resolved config: is \(run.path) a run folder written by `autosam train`?")
        }
        config = try ConfigLoader.load(file: configFile)
        var skipped: [String] = []
        if let checkpoint {
            let (store, name) = try Self.store(of: checkpoint)
            self.checkpoint = try store.read(name)
            checkpointFolder = store.folder(name)
        } else {
            let s = seed ?? config.seeds[0]
            guard config.seeds.contains(s) else {
                throw RunFileError(path: configFile.path,
                                   message: "seed \(s) is not one of the run's seeds \(config.seeds)")
            }
            let store = CheckpointStore(root: run.appendingPathComponent("seed_\(s)/checkpoints"), keep: .max)
            (self.checkpoint, checkpointFolder) = try Self.chosen(store, testModel: config.optim.test_model,
                                                                  skipped: &skipped)
        }
        self.skipped = skipped
        self.seed = self.checkpoint.state.seed
        if let seed, seed != self.seed {
            throw RunFileError(path: checkpointFolder.path,
                               message: "the checkpoint is of seed \(self.seed), not \(seed)")
        }
        let blocking = ConfigDiff.blocking(self.checkpoint.state.config, config)
        guard blocking.isEmpty else {
            throw RunFileError(path: checkpointFolder.path,
                               message: "the checkpoint was trained with another config than \(configFile.path): "
                               + blocking.map { "\($0.key): \($0.old) -> \($0.new)" }.joined(separator: "; "))
        }
    }

    /// The store and position of an explicit `…/epoch_NNNN[_step_NNNNN]` folder.
    private static func store(of folder: URL) throws -> (CheckpointStore, CheckpointName) {
        guard let name = CheckpointName(folderName: folder.standardizedFileURL.lastPathComponent) else {
            throw RunFileError(path: folder.path, message: "expected a checkpoint folder named epoch_NNNN "
                               + "(…/seed_<s>/checkpoints/epoch_NNNN)")
        }
        return (CheckpointStore(root: folder.standardizedFileURL.deletingLastPathComponent(), keep: .max), name)
    }

    /// The newest complete checkpoint, or the best one it names when testing uses `best`.
    private static func chosen(_ store: CheckpointStore, testModel: TestModel,
                               skipped: inout [String]) throws -> (TrainingCheckpoint, URL) {
        let (latest, damaged) = store.latestValid()
        skipped = damaged
        guard let latest else {
            let detail = damaged.isEmpty ? "" : " (damaged: " + damaged.joined(separator: "; ") + ")"
            throw RunFileError(path: store.root.path, message: "no complete checkpoint\(detail)")
        }
        let best = latest.state.bestEpoch
        guard testModel == .best, best > 0, best != latest.state.epoch || latest.state.partialEpoch != nil else {
            return (latest, store.folder(latest.name))
        }
        return (try store.read(epoch: best), store.folder(epoch: best))
    }

    /// The NIfTI files to segment: `path` itself, or the NIfTI files directly in the folder.
    public static func inputs(_ path: URL) throws -> [URL] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path.path, isDirectory: &isDirectory) else {
            throw RunFileError(path: path.path, message: "input does not exist")
        }
        guard isDirectory.boolValue else {
            guard NIfTIStack.stem(path.lastPathComponent) != nil else {
                throw RunFileError(path: path.path, message: "not a NIfTI file name (.nii or .nii.gz)")
            }
            return [path]
        }
        let files = try NIfTIStack.files(in: path)
        guard !files.isEmpty else {
            throw RunFileError(path: path.path, message: "no .nii or .nii.gz files in this folder")
        }
        return files
    }

    /// Segments `inputs` and writes `<out>/<name>.nii.gz` for each (uint8 labels 0..<K with the
    /// input's header and affine). Every input is read and checked before anything is written;
    /// each output is written atomically. Returns the written files.
    public func predict(_ inputs: [URL], to out: URL,
                        encoderFactory: @escaping (ExperimentConfig) throws -> SliceEncoder,
                        progress: @escaping (String) -> Void = { _ in }) throws -> [URL] {
        let volumes = try Self.readInputs(inputs, out: out)
        let provider = try Self.inferenceProvider(config, encoderFactory: encoderFactory)
        try Self.createFolder(out)
        let head = try HeadFactory.make(config, inputChannels: provider.encoder.embeddingShape[0])
        return try head.visit(PredictionVisitor(prediction: self, provider: provider, volumes: volumes, out: out,
                                                progress: progress))
    }

    /// Reads and checks every input as an unlabelled, z-scored volume named by its file stem:
    /// names must be distinct and no output `<out>/<name><suffix>.nii.gz` may be an input.
    public static func readInputs(_ inputs: [URL], out: URL, suffixes: [String] = [""]) throws -> [Volume] {
        let stacks = try inputs.map { try NIfTIStack(contentsOf: $0) }
        var names: [String: URL] = [:]
        let inputPaths = Set(stacks.map { $0.url.standardizedFileURL.path })
        for s in stacks {
            if let other = names[s.stem] {
                throw RunFileError(path: s.url.path,
                                   message: "same volume name '\(s.stem)' as \(other.path); outputs would collide")
            }
            names[s.stem] = s.url
            for suffix in suffixes {
                let target = out.appendingPathComponent(s.stem + suffix + ".nii.gz")
                if inputPaths.contains(target.standardizedFileURL.path) {
                    throw RunFileError(path: target.path,
                                       message: "the output would overwrite its input; choose another --out folder")
                }
            }
        }
        return try stacks.map { try $0.volume(name: $0.stem) }
    }

    /// The embedding provider for new volumes: the config's encoder, no cache (nothing to reuse).
    static func inferenceProvider(_ config: ExperimentConfig,
                                  encoderFactory: (ExperimentConfig) throws -> SliceEncoder) throws
        -> EmbeddingProvider {
        var inference = config
        inference.cache.enabled = false
        return try EmbeddingProvider.make(inference, encoder: encoderFactory(inference))
    }

    static func createFolder(_ folder: URL) throws {
        do { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) } catch {
            throw RunFileError(path: folder.path,
                               message: "cannot create the output folder (\(error.localizedDescription))")
        }
    }

    /// The checkpoint restored into `head` as testing uses it: the test parameters, the state
    /// they go into and the frozen buffers. Its parameter names must be exactly the head's.
    func restored<H: SegmentationHead>(into head: H, provider: EmbeddingProvider) throws
        -> (params: [Float], template: TrainableState, frozen: FrozenState) {
        let expected = Set(head.layout.names), found = Set(checkpoint.params.map(\.0))
        guard expected == found else {
            throw RunFileError(path: checkpointFolder.path,
                               message: "the checkpoint's parameters do not fit the \(config.head.kind) head: "
                               + "missing \(expected.subtracting(found).sorted()), "
                               + "unexpected \(found.subtracting(expected).sorted())")
        }
        let trainer = try SeedTrainer(head: head, config: config, seed: seed,
                                      comm: SingleProcessCommunicator(), worldSize: 1,
                                      provider: provider, store: nil, log: RunLog(rank: 0, metricsFile: nil))
        try trainer.restore(checkpoint)
        return (trainer.testParameters, trainer.state, trainer.frozen)
    }
}

/// Restores the checkpoint into the configured head type and runs `VolumePredictor` per volume.
private struct PredictionVisitor: HeadVisitor {
    let prediction: RunPrediction
    let provider: EmbeddingProvider
    let volumes: [Volume]
    let out: URL
    let progress: (String) -> Void

    func visit<H: SegmentationHead>(_ head: H) throws -> [URL] {
        let config = prediction.config
        let (params, template, frozen) = try prediction.restored(into: head, provider: provider)
        var predictor = VolumePredictor(head: head, provider: provider, sliceSize: config.data.slice_size,
                                        batchSize: config.optim.batch_size)
        var written: [URL] = []
        for (v, volume) in volumes.enumerated() {
            let started = Date()
            let labels = try predictor.predict(volume: 0, of: SliceSet(volumes: [volume]),
                                               params: params, template: template, frozen: frozen)
            let url = out.appendingPathComponent(volume.name + ".nii.gz")
            try volume.prediction(labels).write(to: url)
            written.append(url)
            progress(String(format: "%d/%d %@: %d slices of %dx%d in %.1f s -> %@", v + 1, volumes.count, volume.name,
                            volume.depth, volume.height, volume.width, Date().timeIntervalSince(started), url.path))
        }
        return written
    }
}
