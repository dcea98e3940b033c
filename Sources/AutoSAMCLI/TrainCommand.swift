import ArgumentParser
import Collectives
import Foundation
import Tensors
import Training

/// Options shared by the commands that run an experiment config.
struct ConfigOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "Experiment config (JSON). Without it the built-in defaults are used.")
    var config: String?

    @Option(name: .customLong("set"), help: "Override a config key, e.g. --set head.kind=cnn (repeatable).")
    var overrides: [String] = []

    func load() throws -> ExperimentConfig {
        try ConfigLoader.load(file: config.map { URL(fileURLWithPath: $0) }, overrides: overrides)
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

    @Option(help: "Resume: 'auto' (newest complete checkpoint of each seed) or a checkpoint folder (…/epoch_NNNN).")
    var resume: String?

    @Option(help: "Stop after this many epochs of this invocation (the run can be resumed later).")
    var stopAfterEpochs: Int?

    @Flag(help: "Single-node debug mode: NaN/Inf checks, rank parameter verification and verbose timing.")
    var debug = false

    @Option(help: ArgumentHelp("Fault injection for testing a cluster set-up: this rank fails after preparing the data.",
                               visibility: .hidden))
    var failRank: Int?

    func run() throws {
        var config = try options.load()
        if debug {
            config.run.debug_checks = true
            config.run.verify_ranks = true
        }
        let resumeMode: ResumeMode = resume.map { $0 == "auto" ? .auto : .path(URL(fileURLWithPath: $0)) } ?? .none
        RankedJob.run { world in
            configureThreads(config)
            let experiment = Experiment(config: config, world: world) { try SliceEncoders.make($0) }
            if world.isCoordinator {
                print(ConfigLoader.render(config))
                try FileManager.default.createDirectory(at: experiment.outputDir, withIntermediateDirectories: true)
                try ConfigLoader.render(config).write(to: experiment.outputDir.appendingPathComponent("config.json"),
                                                      atomically: true, encoding: .utf8)
                experiment.log.info("\(world.size) rank(s), \(BLASRuntime.threads) BLAS thread(s) each, OpenBLAS \(BLASRuntime.selection)")
            }
            if let failRank, failRank == world.rank {
                throw TrainingError.injected("failure injected on rank \(failRank) (--fail-rank)")
            }
            try experiment.run(resume: resumeMode, stopAfterEpochs: stopAfterEpochs)
        }
    }
}
