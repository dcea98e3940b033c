import ArgumentParser
import Baselines
import Collectives
import Config
import Embeddings
import Evaluation
import Experiments
import Foundation
import Runs
import Tensors
import Training

/// Options shared by the commands that run an experiment config.
struct ConfigOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "Experiment config (JSON). Without it the built-in defaults are used.")
    var config: String?

    @Option(name: .customLong("set"), help: "Override a config key, e.g. --set head.kind=cnn (repeatable).")
    var overrides: [String] = []

    func validate() throws {
        if config?.isEmpty == true { throw ValidationError("--config needs a file path, got an empty string") }
    }

    func load() throws -> ExperimentConfig {
        try ConfigLoader.load(file: config.map { URL(fileURLWithPath: $0) }, overrides: overrides)
    }

    /// The config read by the coordinator alone and sent to the other ranks, whose nodes need
    /// not hold the file (it may live in a node-local run folder).
    func loadShared(_ world: Communicator) throws -> ExperimentConfig {
        var bytes = world.isCoordinator ? Array(try JSONEncoder().encode(try load())) : []
        try world.broadcast(&bytes, root: 0)
        return try JSONDecoder().decode(ExperimentConfig.self, from: Data(bytes))
    }
}



/// BLAS threads per rank: the config's value, else the launcher's OPENBLAS_NUM_THREADS, else the
/// node's cores divided by the ranks on this node (DESIGN §5: ranks x threads <= cores).
func configureThreads(_ config: ExperimentConfig) {
    let env = ProcessInfo.processInfo.environment
    if config.run.threads > 0 {
        BLASRuntime.setThreads(config.run.threads)
    } else if env["OPENBLAS_NUM_THREADS"] == nil {
        let local = Int(env["OMPI_COMM_WORLD_LOCAL_SIZE"] ?? "1") ?? 1
        BLASRuntime.setThreads(max(1, ProcessInfo.processInfo.activeProcessorCount / max(local, 1)))
    }
}

/// `autosam train`: the whole experiment (cache, training of every seed, test evaluation).
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a head on the frozen encoder for every seed of a config and evaluate it.",
        discussion: """
        Runs as one rank, or as many under mpirun (`mpirun -np 2 autosam train -c configs/demo.json`, or launch.sh). \
        The global batch is the config's optim.batch_size whatever the number of ranks. Results go to output.dir: \
        config.json, split.json, seed_<s>/{metrics.jsonl, checkpoints/, predictions/, test_volumes.csv}, summary.json.
        """
    )

    @OptionGroup var options: ConfigOptions

    @Option(help: ArgumentHelp("Resume: 'auto' (newest complete checkpoint of each seed) or a checkpoint folder "
                               + "(…/epoch_NNNN, or …/epoch_NNNN_step_NNNNN taken mid-epoch)."))
    var resume: String?

    @Option(help: "Stop after this many epochs of this invocation (the run can be resumed later).")
    var stopAfterEpochs: Int?

    @Flag(help: "Single-node debug mode: NaN/Inf checks, rank parameter verification and verbose timing.")
    var debug = false

    @Option(help: ArgumentHelp("Fault injection for testing a cluster set-up: "
                               + "this rank fails after preparing the data.", visibility: .hidden))
    var failRank: Int?

    @Option(help: ArgumentHelp("Fault injection for testing the collective watchdog: this rank stops itself (SIGSTOP) "
                               + "after preparing the data.", visibility: .hidden))
    var hangRank: Int?

    @Option(help: ArgumentHelp("Fault injection for testing preemption: this rank sends itself SIGTERM after optimiser "
                               + "step --signal-step of a seed.", visibility: .hidden))
    var signalRank: Int?

    @Option(help: ArgumentHelp("The step after which --signal-rank signals itself.", visibility: .hidden))
    var signalStep: Int = 1

    func validate() throws {
        _ = try Self.resumeMode(resume)
        if let stopAfterEpochs, stopAfterEpochs < 0 {
            throw ValidationError("--stop-after-epochs must be >= 0, got \(stopAfterEpochs)")
        }
    }

    /// `--resume`: `auto`, or a checkpoint folder named `epoch_NNNN` or `epoch_NNNN_step_NNNNN`.
    /// Whether the folder exists is checked by the coordinator alone (`checkResumeFolder`): other
    /// ranks need not see the run folder.
    static func resumeMode(_ text: String?) throws -> ResumeMode {
        guard let text else { return .none }
        if text == "auto" { return .auto }
        let url = URL(fileURLWithPath: text)
        guard CheckpointName(folderName: url.lastPathComponent) != nil else {
            throw ValidationError("--resume '\(text)' is neither 'auto' nor a checkpoint folder "
                                  + "(.../checkpoints/epoch_NNNN or .../checkpoints/epoch_NNNN_step_NNNNN)")
        }
        return .path(url)
    }

    /// Coordinator: an explicit `--resume` folder exists and is a folder.
    static func checkResumeFolder(_ text: String?) throws {
        guard case .path(let url) = try resumeMode(text), let text else { return }
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder) else {
            throw ValidationError("--resume '\(text)': no such checkpoint folder \(url.path)")
        }
        guard isFolder.boolValue else {
            throw ValidationError("--resume '\(text)': \(url.path) is a file, not a checkpoint folder")
        }
    }

    func run() throws {
        let resumeMode = try Self.resumeMode(resume)
        StopRequest.install()
        RankedJob.run { world in
            var config = try options.loadShared(world)
            if debug {
                config.run.debug_checks = true
                config.run.verify_ranks = true
            }
            configureThreads(config)
            let experiment = Experiment(config: config, world: world) { try SliceEncoders.make($0) }
            var lock: RunLock? = nil
            if world.isCoordinator {
                try Self.checkResumeFolder(resume)
                print(ConfigLoader.render(config))
                lock = try experiment.openRunFolder()
                experiment.log.info("\(world.size) rank(s), \(BLASRuntime.threads) BLAS thread(s) each, "
                                    + "OpenBLAS \(BLASRuntime.selection)")
            }
            if let failRank, failRank == world.rank {
                throw TrainingError.injected("failure injected on rank \(failRank) (--fail-rank)")
            }
            if let hangRank, hangRank == world.rank {
                fputs("autosam: rank \(hangRank) stops itself (--hang-rank)\n", stderr)
                raise(SIGSTOP)
            }
            if let signalRank, signalRank == world.rank {
                let step = signalStep
                experiment.afterStep = { done in if done == step { raise(SIGTERM) } }
            }
            try experiment.run(resume: resumeMode, stopAfterEpochs: stopAfterEpochs, holding: lock)
        }
    }
}
