import Baselines
import TensorFiles
import Collectives
import Config
import Datasets
import Embeddings
import Evaluation
import Foundation
import Heads
import Runs
import Tensors
import Training

/// How `train` treats existing checkpoints.
public enum ResumeMode: Equatable {
    case none
    case auto                 // the newest complete, verified checkpoint of each seed, if any
    case path(URL)            // this checkpoint folder (one seed)
}

/// A whole experiment on the ranks of `world` (DESIGN §2): data, split, cache build sharded over
/// the world, seeds trained in parallel groups or one after another, test inference sharded by
/// volume, seed-averaged results written by the coordinator.
public final class Experiment {
    public let config: ExperimentConfig
    public let world: Communicator
    public let log: RunLog
    public let outputDir: URL
    public let encoderFactory: (ExperimentConfig) throws -> SliceEncoder
    /// Called on every rank after each optimiser step of fine-tuning with the seed's steps done
    /// (fault injection for tests of preemption: `autosam train --signal-rank`).
    public var afterStep: ((Int) -> Void)?
    /// The whole-run progress of the current `run` (cache build, every seed's training and test).
    public internal(set) var progress: RunProgress?

    public init(config: ExperimentConfig, world: Communicator,
                encoderFactory: @escaping (ExperimentConfig) throws -> SliceEncoder) {
        self.config = config
        self.world = world
        self.outputDir = URL(fileURLWithPath: config.output.dir)
        self.log = RunLog(rank: world.rank, metricsFile: nil, verbose: config.run.debug_checks)
        self.encoderFactory = encoderFactory
    }

    /// The prepared data of a run.
    public struct Data {
        public let split: Split
        public let train: SliceSet
        public let validation: SliceSet
        public let test: SliceSet
        /// Every training patient of the fold (labels unused), for self-supervised pretraining;
        /// nil when the config does not pretrain.
        public let unlabelled: SliceSet?
    }

    /// Synthesises phantom data when asked and absent (coordinator), scans the dataset, makes or
    /// reuses the split file and loads the slice sets. The split plan comes from the coordinator;
    /// with `data.distribute = broadcast` the volumes do too (other ranks never read `data.root`).
    public func prepareData() throws -> Data {
        let root = URL(fileURLWithPath: config.data.root)
        if world.isCoordinator {
            try createOutputFolder()
            if config.data.synthesize_patients > 0 && (try? DatasetIndex.scan(root)) == nil {
                log.info("synthesising \(config.data.synthesize_patients) phantom patients in \(root.path)")
                try Phantom.writeDataset(to: root, patients: config.data.synthesize_patients,
                                         seed: UInt64(config.data.split_seed))
            }
        }
        try world.barrier()
        let broadcast = config.data.distribute == .broadcast
        if broadcast && !world.isCoordinator { return try receiveData() }
        let layout = config.data.layout == .auto ? nil : DatasetLayout(rawValue: config.data.layout.rawValue)
        let index: DatasetIndex
        do { index = try DatasetIndex.scan(root, layout: layout) } catch where !world.isCoordinator {
            throw DataPlacementError(description: "rank \(world.rank) on host \(Self.hostName): \(error) "
                                     + "(data.distribute is shared, so every node reads data.root; when the data "
                                     + "is only on the coordinator's node, set data.distribute to broadcast)")
        }
        // The coordinator reads (or makes) split.json and sends the plan: other ranks never read
        // the run folder, which need not be shared.
        var planBytes: [UInt8] = []
        if world.isCoordinator {
            let plan = try SplitPlan.loadOrCreate(at: outputDir.appendingPathComponent("split.json"),
                                                  patients: index.patients,
                                                  seed: UInt64(config.data.split_seed), folds: config.data.folds)
            planBytes = Array(try JSONEncoder().encode(plan))
        }
        if !broadcast { try world.broadcast(&planBytes, root: 0) }
        let split = try JSONDecoder().decode(SplitPlan.self, from: Foundation.Data(planBytes)).fold(config.data.fold)
        let sets = try index.sliceSets(split, trainSize: config.data.train_size == 0 ? nil : config.data.train_size,
                                       classes: config.data.classes)
        log.info("data: \(index.layout.rawValue) at \(root.path); train \(sets.train.count) slices of "
                 + "\(sets.train.volumes.count) volumes, val \(sets.val.count), test \(sets.test.count)")
        var unlabelled: SliceSet? = nil
        if config.pretrain.method != .none {
            unlabelled = try SliceSet(index: index, patients: split.train, classes: config.data.classes)
            log.info("pretraining (\(config.pretrain.method)): \(unlabelled!.count) unlabelled slices "
                     + "of \(split.train.count) training patients")
        }
        let data = Data(split: split, train: sets.train, validation: sets.val, test: sets.test, unlabelled: unlabelled)
        if broadcast { try sendData(data, planBytes: planBytes) }
        return data
    }

    /// Coordinator, `data.distribute = broadcast`: the split plan and every slice set to all ranks.
    private func sendData(_ data: Data, planBytes: [UInt8]) throws {
        var out = MessageWriter()
        out.put(planBytes)
        for set in [data.train, data.validation, data.test] { set.write(to: &out) }
        out.put(data.unlabelled == nil ? 0 : 1)
        data.unlabelled?.write(to: &out)
        var bytes = out.bytes
        log.info("data: sending \(String(format: "%.1f", Double(bytes.count) / 1e6)) MB of volumes "
                 + "to \(world.size - 1) rank(s) (data.distribute broadcast)")
        try world.broadcast(&bytes, root: 0)
    }

    /// Other ranks, `data.distribute = broadcast`: what `sendData` sent.
    private func receiveData() throws -> Data {
        var bytes: [UInt8] = []
        try world.broadcast(&bytes, root: 0)
        var input = MessageReader(bytes, what: "data broadcast")
        let plan = try JSONDecoder().decode(SplitPlan.self, from: Foundation.Data(try input.raw()))
        let train = try SliceSet(reading: &input), validation = try SliceSet(reading: &input)
        let test = try SliceSet(reading: &input)
        let unlabelled = try input.int() == 0 ? nil : try SliceSet(reading: &input)
        return Data(split: try plan.fold(config.data.fold), train: train, validation: validation, test: test,
                    unlabelled: unlabelled)
    }

    /// Creates the run folder `output.dir` (and its parents) when missing and checks that it is
    /// a folder this process can write.
    public func createOutputFolder() throws { try RunFolder.create(outputDir) }

    /// Coordinator, at the start of a run: creates the run folder, takes its `RunLock` (before
    /// anything is written: one run per folder) and writes the resolved `config.json`. The lock
    /// is held until released (`run(holding:)` releases it at the end).
    public func openRunFolder() throws -> RunLock {
        try createOutputFolder()
        let lock = try RunLock(folder: outputDir)
        do { try RunFolder.writeConfig(config, to: outputDir) } catch {
            lock.release()
            throw error
        }
        return lock
    }

    /// This machine's host name (named in errors about node-local files).
    static var hostName: String { ProcessInfo.processInfo.hostName }

    /// The embedding provider of this run: cache under `cache.dir` (when enabled) in the folder of
    /// this encoder and input settings, training entries at `cache.dtype`.
    public func makeProvider() throws -> EmbeddingProvider {
        try EmbeddingProvider.make(config, encoder: encoderFactory(config))
    }

    /// The seeds this rank trains and the communicator it trains them in: with at least as many
    /// ranks as seeds the world splits into one group per seed (MPI_Comm_split), otherwise every
    /// rank trains every seed in turn. Each group's coordinator writes its seed's files, so the
    /// split needs a run folder every rank sees; when it is node-local (`sharesOutputFolder`)
    /// every rank trains every seed in turn instead.
    public func seedGroups() throws -> (seeds: [Int], comm: Communicator) {
        let seeds = config.seeds
        guard seeds.count > 1, world.size >= seeds.count else { return (seeds, world) }
        guard try sharesOutputFolder() else {
            log.info("output.dir is not the same folder on every rank (node-local): the \(seeds.count) seeds train "
                     + "one after another on all \(world.size) ranks, not in parallel groups, "
                     + "so that only the coordinator writes")
            return (seeds, world)
        }
        let color = world.rank % seeds.count
        return ([seeds[color]], try world.split(color: color, key: world.rank))
    }

    /// True when every rank sees the coordinator's run folder: the coordinator writes a probe file
    /// with a random token, every rank looks for it, the coordinator deletes it.
    func sharesOutputFolder() throws -> Bool {
        let probe = outputDir.appendingPathComponent(".autosam-probe-\(UUID().uuidString)")
        var message: [UInt8] = []
        if world.isCoordinator {
            let token = UUID().uuidString
            try createOutputFolder()
            try AtomicFile.write(Foundation.Data(token.utf8), to: probe)
            var out = MessageWriter()
            out.put(probe.path)
            out.put(token)
            message = out.bytes
        }
        try world.broadcast(&message, root: 0)
        var input = MessageReader(message, what: "output folder probe")
        let path = try input.string(), token = try input.string()
        let seen = (try? String(contentsOfFile: path, encoding: .utf8)) == token
        var notSeen: [Double] = [seen ? 0 : 1]
        try world.allReduceMax(&notSeen)
        if world.isCoordinator { try? FileManager.default.removeItem(atPath: path) }
        return notSeen[0] == 0
    }
}

/// Data that a rank cannot reach where the config says it is.
public struct DataPlacementError: Error, CustomStringConvertible {
    public let description: String
}
