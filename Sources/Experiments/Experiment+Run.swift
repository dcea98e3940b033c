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

extension Experiment {
    /// Trains every seed and evaluates it on the test set; the world coordinator writes
    /// `summary.json`, per-seed CSVs and predictions, prints the table and returns the summary
    /// (nil on other ranks). A `sam_box` config runs `runBoxBaseline` instead. The coordinator
    /// holds the run folder's `RunLock` throughout (`lock`, when the caller took it already to
    /// write `config.json`), so a second run on the same folder fails instead of mixing files.
    @discardableResult
    public func run(resume: ResumeMode = .none, stopAfterEpochs: Int? = nil,
                    holding lock: RunLock? = nil) throws -> RunSummary? {
        CollectiveWatchdog.shared.timeout = config.run.collective_timeout
        let held = try lock ?? (world.isCoordinator ? RunLock(folder: outputDir) : nil)
        defer { held?.release() }
        if config.head.kind == .samBox { return try runBoxBaseline() }   // nothing to train or resume
        let clock = PhaseClock()
        let data = try prepareData()
        let provider = try makeProvider()
        clock.mark("data and encoder")
        let (seeds, comm) = try seedGroups()
        let progress = makeProgress(seeds: seeds.count, data: data)
        var cachePlanned = false
        try provider.prebuild(train: data.train, evaluation: [data.validation, data.test], comm: world) { done, total in
            if !cachePlanned { progress.plan(.cache, units: total) }
            cachePlanned = true
            progress.advance(.cache, detail: "embedding cache: \(done)/\(total) slices on this rank")
        }
        progress.pause(.cache)
        clock.mark("embedding cache")
        let identity = data.train.identity + data.validation.identity
        var results: [SeedResult] = []
        var stopped: Preempted? = nil
        for seed in seeds {
            let head = try HeadFactory.make(config, inputChannels: provider.encoder.embeddingShape[0])
            do {
                let runner = SeedRunner(experiment: self, seed: seed, comm: comm, data: data, provider: provider,
                                        resume: resume, stopAfterEpochs: stopAfterEpochs, dataIdentity: identity)
                if let r = try head.visit(runner) {
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
        clock.mark("training and test")
        let summary = try summarise(results)
        clock.mark("summary")
        if summary != nil { try writeProvenance(encoder: provider.encoder, clock: clock) }
        return summary
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
        let names = config.classNames
        try ScoreCSV.perVolume(scores, classNames: names).write(to: seedDir.appendingPathComponent("test_volumes.csv"),
                                                                atomically: true, encoding: .utf8)
        return SeedResult(seed: seed, volumes: scores)
    }

    /// Coordinator: the per-seed and over-seed summaries, written atomically to `summary.json`
    /// and printed as a table.
    func writeSummary(_ results: [SeedResult], metrics: [Metric] = [.dice, .assd]) throws -> RunSummary {
        let all = results.sorted { $0.seed < $1.seed }
        let names = config.classNames
        let perSeed = all.map { ScoreSummary(volumes: $0.volumes, classNames: names, mode: .standard) }
        let summary = RunSummary(name: config.name, seeds: all.map(\.seed), perSeed: perSeed,
                                 overSeeds: ScoreSummary(seeds: perSeed))
        let pretty = JSONEncoder()
        pretty.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try pretty.encode(summary), to: outputDir.appendingPathComponent("summary.json"))
        print(summary.table(metrics: metrics).render())
        return summary
    }
}

extension Experiment {
    /// The run's progress: every seed of this rank's group trains `epochs` epochs of
    /// ceil(train / batch) steps and predicts the test volumes. Printed by the coordinator, or by
    /// every rank with `run.progress_all_ranks`.
    func makeProgress(seeds: Int, data: Data) -> RunProgress {
        let progress = RunProgress(every: config.run.progress_every,
                                   prints: world.isCoordinator || config.run.progress_all_ranks, log: log)
        let steps = config.stepsPerEpoch(trainSlices: data.train.count)
        progress.plan(.training, units: seeds * config.optim.epochs * steps)
        progress.plan(.test, units: seeds * data.test.volumes.count)
        self.progress = progress
        return progress
    }
}
