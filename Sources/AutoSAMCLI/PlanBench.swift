import ArgumentParser
import Collectives
import Config
import Datasets
import Embeddings
import Evaluation
import Experiments
import Foundation
import Heads
import Optim
import Runs
import Tensors
import Training

/// `autosam bench plan`: the unit costs of a config (or of every run of a suite) measured on this
/// machine and the whole run's wall time projected per phase for several rank counts
/// (`CostPlan`, which states its model). Under mpirun the all-reduce is measured across the ranks;
/// alone, its latency and bandwidth are assumed (printed).
struct PlanBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Measure a config's unit costs here and project its run time per phase for 1 to 128 ranks.",
        discussion: "A projection from measured unit costs, not a measurement of the run. With --suite, every run of "
            + "the suite is projected and the suite's total printed."
    )

    @OptionGroup var options: ConfigOptions

    @Option(help: "A suite file (e.g. configs/paper/table1.json): project every run of it instead of one config.")
    var suite: String?

    @Option(help: "Rank counts to project, comma separated.")
    var ranks: String = "1,2,8,32,128"

    @Option(help: "Timed repetitions of each unit cost (after one warm-up).")
    var repeats: Int = 2

    @Option(help: "Assumed all-reduce latency in µs when not run under mpirun.")
    var latencyMicroseconds: Double = 50

    @Option(help: "Assumed all-reduce bandwidth in GB/s when not run under mpirun (10 GbE: 1.2).")
    var bandwidthGBs: Double = 1.2

    func validate() throws {
        _ = try BenchHarness.threadCounts(ranks, option: "--ranks")
        if repeats < 1 { throw ValidationError("--repeats must be at least 1") }
    }

    func run() throws {
        let configs = try suite.map { try Suite.load(URL(fileURLWithPath: $0)).configs() } ?? [options.load()]
        let rankCounts = try BenchHarness.threadCounts(ranks, option: "--ranks")
        RankedJob.run { comm in
            configureThreads(configs[0])
            let network = try measureNetwork(comm)
            guard comm.isCoordinator else { return }
            print(BenchHarness.machineLine + "; \(comm.size) rank(s) measured")
            print(network.note)
            var totals = [Double](repeating: 0, count: rankCounts.count)
            var encoderCosts: [String: Double] = [:]
            for config in configs {
                let workload = try Self.workload(config)
                let timed = Self.timingConfig(config)
                if timed != config {
                    print("\n\(config.name): \(config.encoder.checkpoint) is not here: timed with random "
                          + "\(timed.encoder.preset) weights of the same shapes")
                }
                var units = try measure(timed, encoderCosts: &encoderCosts)
                (units.latency, units.bandwidth) = (network.latency, network.bandwidth)
                units.dataLoad = workload.value.testVolumes > 0 ? workload.loadSeconds : 0
                units.scorePerVolume = try workload.firstTestVolume
                    .map { try Self.scoring($0, classes: config.data.classes) } ?? 0

                print("\n\(config.name): \(workload.note)")
                print(String(format: "  units: encoder pass %.3f s, head step %.3f s (1 slice) / %.3f s (%d), "
                             + "forward %.4f s/slice, checkpoint %.3f s, %d parameters, data load %.2f s, "
                             + "scoring %.3f s/volume, cache read %.3f ms (%@) / %.3f ms (fp32)", units.encoderPass,
                             units.headStepOne, units.headStepBatch, units.batchSize, units.forwardPerSlice,
                             units.checkpointWrite, units.parameters, units.dataLoad, units.scorePerVolume,
                             units.cacheReadTrain * 1e3, config.cache.dtype.rawValue,
                             units.cacheReadEvaluation * 1e3))
                print("  ranks   data + cache  pretrain   train/seed  val/seed   test/seed"
                      + "  seeds (groups)        total")
                for (i, r) in rankCounts.enumerated() {
                    let p = CostPlan.project(workload.value, units, ranks: r)
                    totals[i] += p.total
                    print(String(format: "  %5d %@    %@ %@ %@ %@ %@ (%d x %d)   %@", r, Self.time(p.setup + p.cache),
                                 Self.time(p.pretraining), Self.time(p.training), Self.time(p.validation),
                                 Self.time(p.test), Self.time(p.seedsWall),
                                 p.seedGroups, p.ranksPerGroup, Self.time(p.total)))
                }
            }
            if configs.count > 1 {
                print("\nsuite total (runs one after another): " + zip(rankCounts, totals)
                    .map { "\($0) ranks \(Self.time($1).trimmingCharacters(in: .whitespaces))" }
                    .joined(separator: ", "))
            }
            print("\nmodel: " + Self.model)
        }
    }

    static let model = """
        cache build sharded over all ranks; seeds in parallel groups when ranks >= seeds; a step costs ceil(B/g) \
        encoder passes (augmentation reference) or cache reads + a head step on ceil(B/g) slices + a ring \
        all-reduce of the parameters + the stop agreement; validation and test read and forward ceil(slices/g) \
        slices per rank; one checkpoint per epoch (see CostPlan).
        """

    /// The config whose unit costs are measured: itself, or with random weights of its preset when
    /// its SAM checkpoint is not on this machine (costs depend on the shapes only).
    static func timingConfig(_ config: ExperimentConfig) -> ExperimentConfig {
        let checkpoint = config.encoder.checkpoint
        guard !checkpoint.isEmpty, !FileManager.default.fileExists(atPath: checkpoint) else { return config }
        var timed = config
        timed.encoder.checkpoint = ""
        if timed.encoder.preset == .auto { timed.encoder.preset = .vitB }
        return timed
    }

    /// "  12.3 s", "  4.5 min", "  2.1 h".
    static func time(_ s: Double) -> String {
        s < 120 ? String(format: "%7.1f s  ", s)
            : s < 7200 ? String(format: "%7.1f min", s / 60) : String(format: "%7.1f h  ", s / 3600)
    }

    /// The all-reduce latency and bandwidth: measured across the ranks under mpirun, else assumed.
    func measureNetwork(_ comm: Communicator) throws -> (latency: Double, bandwidth: Double, note: String) {
        guard comm.size > 1 else {
            return (latencyMicroseconds * 1e-6, bandwidthGBs * 1e9,
                    String(format: "all-reduce: assumed %.0f µs latency, "
                           + "%.1f GB/s (run under mpirun to measure)", latencyMicroseconds, bandwidthGBs))
        }
        func median(_ floats: Int) throws -> Double {
            var buffer = [Float](repeating: 1, count: floats)
            var times: [Double] = []
            for _ in 0...max(repeats, 5) { times.append(try BenchHarness.seconds { try comm.allReduceSum(&buffer) }) }
            var m = [BenchHarness.median(Array(times.dropFirst()))]
            try comm.allReduceMax(&m)
            return m[0]
        }
        let r = Double(comm.size), big = 4 << 20
        let latency = try median(1) / max(1, 2 * log2(r))
        let bandwidth = 2 * (r - 1) / r * 4 * Double(big) / max(1e-9, try median(big) - 2 * log2(r) * latency)
        return (latency, bandwidth, String(format: "all-reduce measured on %d ranks: %.1f µs latency, %.2f GB/s",
                                           comm.size, latency * 1e6, bandwidth / 1e9))
    }

    /// Slice counts of the config's data: the real ones when `data.root` holds a dataset (read
    /// only, split computed in memory unless `split.json` exists), else an ACDC-sized estimate.
    static func workload(_ config: ExperimentConfig) throws
        -> (value: CostPlan.Workload, note: String, loadSeconds: Double, firstTestVolume: Volume?) {
        let started = Date()
        let root = URL(fileURLWithPath: config.data.root)
        let layout = config.data.layout == .auto ? nil : DatasetLayout(rawValue: config.data.layout.rawValue)
        guard let index = try? DatasetIndex.scan(root, layout: layout) else {
            // ACDC: 100 patients, 2 frames each, about 9.5 slices per volume; 70/15/15 % split.
            let perPatient = 19, train = config.data.train_size == 0 ? 70 : config.data.train_size
            var w = CostPlan.Workload(config: config, train: train * perPatient, validation: 15 * perPatient,
                                      test: 15 * perPatient, unlabelled: 70 * perPatient)
            w.testVolumes = 30
            return (w, "no dataset at \(root.path): ACDC-sized estimate (\(w.train) train, \(w.validation) val, "
                    + "\(w.test) test slices; data loading and scoring not measured)", 0, nil)
        }
        let splitFile = URL(fileURLWithPath: config.output.dir).appendingPathComponent("split.json")
        let plan = (try? JSONDecoder().decode(SplitPlan.self, from: Data(contentsOf: splitFile)))
            ?? SplitPlan(patients: index.patients, seed: UInt64(config.data.split_seed), folds: config.data.folds)
        let split = try plan.fold(config.data.fold)
        let sets = try index.sliceSets(split, trainSize: config.data.train_size == 0 ? nil : config.data.train_size,
                                       classes: config.data.classes)
        let unlabelled = config.pretrain.method == .none ? 0
            : try SliceSet(index: index, patients: split.train, classes: config.data.classes).count
        var w = CostPlan.Workload(config: config, train: sets.train.count, validation: sets.val.count,
                                  test: sets.test.count, unlabelled: unlabelled)
        w.testVolumes = sets.test.volumes.count
        return (w, "\(w.train) train, \(w.validation) val, \(w.test) test slices "
                   + "in \(w.testVolumes) test volumes (\(root.path))",
                Date().timeIntervalSince(started), sets.test.volumes.first)
    }

    /// Scoring one volume (its labels shifted by one row as the prediction: both masks non-empty,
    /// surfaces apart, as a trained head gives) and writing it as NIfTI.
    static func scoring(_ volume: Volume, classes: Int) throws -> Double {
        guard let labels = volume.labels else { return 0 }
        let shifted = Array(labels.dropFirst(volume.width)) + [UInt8](repeating: 0, count: volume.width)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("autosam-plan-\(getpid()).nii.gz")
        defer { try? FileManager.default.removeItem(at: file) }
        return try BenchHarness.seconds {
            _ = volume.scores(of: shifted, classes: classes)
            try volume.prediction(shifted).write(to: file)
        }
    }
}

/// A head's step on 1 and B slices, its forward per slice and a checkpoint write.
struct HeadUnits: HeadVisitor {
    let config: ExperimentConfig
    let embedding: [Int]
    let repeats: Int
    let encoderPass: Double

    func visit<H: SegmentationHead>(_ head: H) throws -> CostPlan.UnitCosts {
        let (trainable, frozen) = head.initialState(seed: 1, lr: config.optim.lr)
        var state = trainable
        var step = HeadStep(head: head)
        let s = config.data.slice_size, b = config.optim.batch_size
        func batch(_ n: Int, seed: UInt64 = 9) -> LocalBatch {
            BenchHarness.randomBatch(n, embedding: embedding, labelSize: s, classes: head.classes, seed: seed)
        }
        // A different batch every step (as training fetches new embeddings).
        var stepTimes: [Int: Double] = [:]
        for n in Set([1, b]).sorted() {
            let batches = (0...repeats).map { r in batch(n, seed: UInt64(r)) }
            stepTimes[n] = try BenchHarness.medianStep(&step, state: &state, frozen: frozen, batches: batches)
        }
        let one = stepTimes[1]!, full = stepTimes[b]!
        let evalBatch = batch(min(b, 4))
        _ = step.statistics(evalBatch, state: state, frozen: frozen)
        let forward = BenchHarness.median((0..<repeats).map { _ in
            BenchHarness.seconds { _ = step.statistics(evalBatch, state: state, frozen: frozen) }
        }) / Double(evalBatch.count)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("autosam-plan-\(getpid())")
        defer { try? FileManager.default.removeItem(at: folder) }
        let checkpoint = try BenchHarness.checkpoint(state, frozen: frozen, config: config, steps: 1)
        let write = try BenchHarness.seconds { try CheckpointStore(root: folder, keep: 1).write(checkpoint) }
        return CostPlan.UnitCosts(encoderPass: encoderPass, headStepOne: one, headStepBatch: full, batchSize: b,
                                  forwardPerSlice: forward, checkpointWrite: write, parameters: state.layout.totalCount,
                                  latency: 0, bandwidth: 1)
    }
}
