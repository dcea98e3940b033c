import Baselines
import TensorFiles
import Collectives
import Config
import Embeddings
import Evaluation
import Foundation
import Metrics
import Runs
import Training

/// Runs a suite's configs one after another on the whole world, each as `autosam train
/// --resume auto` does, skipping finished runs, then builds the comparison table from the runs'
/// `summary.json` files (one row per config, suite order).
public final class SuiteRunner {
    public let suite: Suite
    public let configs: [ExperimentConfig]
    public let world: Communicator
    let encoderFactory: (ExperimentConfig) throws -> SliceEncoder
    let log: RunLog

    /// `configs`: `suite.configs()` (loaded up front so that errors come before any run).
    public init(suite: Suite, configs: [ExperimentConfig], world: Communicator,
                encoderFactory: @escaping (ExperimentConfig) throws -> SliceEncoder) {
        self.suite = suite
        self.configs = configs
        self.world = world
        self.encoderFactory = encoderFactory
        self.log = RunLog(rank: world.rank, metricsFile: nil)
    }

    /// True when `config.output.dir` holds a `summary.json` and a saved `config.json` that
    /// resolves to exactly `config`.
    public static func isFinished(_ config: ExperimentConfig) -> Bool {
        let dir = URL(fileURLWithPath: config.output.dir)
        guard FileManager.default.fileExists(atPath: dir.appendingPathComponent("summary.json").path),
              let saved = try? ConfigLoader.load(file: dir.appendingPathComponent("config.json")) else { return false }
        return saved == config
    }

    /// Links the runs into `suite.folder` (coordinator), runs every unfinished config in order
    /// (`prepare` is called on every rank before each run, e.g. to set BLAS threads), then on the
    /// coordinator builds the table, writes it to `suite.output` and returns it (nil on other ranks).
    @discardableResult
    public func run(prepare: (ExperimentConfig) -> Void = { _ in }) throws -> ResultsTable? {
        if world.isCoordinator { try linkRuns() }
        var timed: [Double] = []   // wall seconds of the runs this invocation trained
        for (i, config) in configs.enumerated() {
            let label = "suite \(suite.name): run \(i + 1)/\(configs.count) \(config.name) (\(suite.runs[i]))"
            // The coordinator's file system decides, so that every rank takes the same branch.
            var finished = [UInt8(world.isCoordinator && Self.isFinished(config) ? 1 : 0)]
            try world.broadcast(&finished, root: 0)
            if finished[0] == 1 {
                if world.isCoordinator { log.info("\(label): already done (\(config.output.dir)/summary.json)") }
                continue
            }
            prepare(config)
            let experiment = Experiment(config: config, world: world, encoderFactory: encoderFactory)
            var lock: RunLock? = nil
            if world.isCoordinator {
                try experiment.createOutputFolder()
                lock = try RunLock(folder: experiment.outputDir)     // before touching the folder's files
                log.info("\(label) -> \(config.output.dir); " + etaLine(timed: timed, from: i))
                let stale = experiment.outputDir.appendingPathComponent("summary.json")
                if FileManager.default.fileExists(atPath: stale.path) {
                    log.info("\(config.output.dir)/summary.json is of another config: removed, running again")
                    try FileManager.default.removeItem(at: stale)
                }
                try RunFolder.writeConfig(config, to: experiment.outputDir)
            }
            let started = Date()
            try experiment.run(resume: .auto, holding: lock)
            timed.append(Date().timeIntervalSince(started))
        }
        try world.barrier()
        guard world.isCoordinator else { return nil }
        let table = try self.table()
        try write(table)
        return table
    }

    /// The comparison table (`RunSummary.comparison`) from the runs' `summary.json`, one row per
    /// config in suite order. Runs without a summary are an error naming all of them.
    public func table() throws -> ResultsTable {
        var summaries: [RunSummary] = [], missing: [String] = []
        for (path, config) in zip(suite.runs, configs) {
            let dir = URL(fileURLWithPath: config.output.dir)
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent("summary.json").path) {
                summaries.append(try RunSummary.read(run: dir))
            } else {
                missing.append("\(path) (\(config.output.dir))")
            }
        }
        guard missing.isEmpty else {
            throw ConfigError(source: suite.file.path,
                              message: "no summary.json yet for: " + missing.joined(separator: ", "))
        }
        let columns = summaries[0].overSeeds.columns.map(\.name)
        if let other = summaries.firstIndex(where: { $0.overSeeds.columns.map(\.name) != columns }) {
            throw ConfigError(source: suite.file.path,
                              message: "\(suite.runs[other]) has other classes than \(suite.runs[0]); "
                              + "one table needs the same classes in every run")
        }
        return RunSummary.comparison(summaries, metrics: suite.metrics)
    }

    /// Makes `suite.folder` hold every run (`Suite.linkRuns`), saying what it linked.
    public func linkRuns() throws {
        let links = try suite.linkRuns(configs)
        if let folder = suite.folder, !links.isEmpty {
            log.info("suite \(suite.name): \(links.count) run(s) linked into \(folder): "
                     + links.map(\.lastPathComponent).joined(separator: ", "))
        }
    }

    /// Writes `table` to `suite.output` atomically (nothing without `output`): a `.md` file gets
    /// the suite's name as heading and the table in a code block, any other file the plain table.
    public func write(_ table: ResultsTable) throws {
        guard let output = suite.output else { return }
        let url = URL(fileURLWithPath: output)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let text = url.pathExtension == "md" ? "# \(suite.name)\n\n```text\n\(table.render())```\n" : table.render()
        try AtomicFile.write(Data(text.utf8), to: url)
        log.info("suite \(suite.name): table written to \(output)")
    }
}

extension SuiteRunner {
    /// The suite's rough ETA before run `index`: the mean wall time of the runs trained so far in
    /// this invocation times the unfinished runs from `index` on (runs differ in size, so this is
    /// a rough guide; `autosam bench plan --suite` projects each run from measured unit costs).
    func etaLine(timed: [Double], from index: Int) -> String {
        let left = configs[index...].filter { !Self.isFinished($0) }.count
        guard !timed.isEmpty else {
            return "\(left) run(s) to go, suite ETA not measured yet (see autosam bench plan --suite)"
        }
        let mean = timed.reduce(0, +) / Double(timed.count)
        return "\(left) run(s) to go, rough suite ETA \(RunProgress.duration(mean * Double(left))) "
            + "(mean of the \(timed.count) run(s) trained so far)"
    }
}

