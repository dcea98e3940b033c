import Config
import Foundation

/// The wall time of a run projected from unit costs measured on this machine (`autosam bench
/// plan`, issue 17). The model, printed with every projection:
/// - the cache build (clean views of the validation and test slices, of the training slices with
///   augmentation `none`, bank views with `bank`) is sharded over all ranks: ceil(entries / R)
///   encoder passes;
/// - seeds train in parallel groups when there are at least as many ranks as seeds (R / seeds
///   ranks each), else one after another on all ranks;
/// - a training step of a group of g ranks costs, on the slowest rank, ceil(B / g) encoder passes
///   (augmentation `reference`, or no cache) or cache reads (measured, at `cache.dtype`) plus a
///   head step on ceil(B / g) slices (linear between the measured steps on 1 and B slices) plus
///   one all-reduce of the head's parameter count (ring model: 2 (g-1)/g x 4P bytes at the measured bandwidth, plus
///   2 log2(g) latencies) plus the stop agreement (one more latency);
/// - every validated epoch and the test pass forward ceil(slices / g) slices per rank (plus a
///   cache read each, or an encoder pass when the cache is off); the coordinator writes one
///   checkpoint per epoch;
/// - SimCLR pretraining steps cost a head step on 2 ceil(N / g) views; the box baseline one
///   encoder pass per test slice, sharded;
/// - serial parts: loading the data (every rank at once) and, on the coordinator, scoring and
///   writing each test volume's prediction.
public struct CostPlan {
    /// Measured seconds (and the parameter count), all for one rank.
    public struct UnitCosts: Codable, Equatable {
        public var encoderPass: Double
        public var headStepOne: Double
        public var headStepBatch: Double
        public var batchSize: Int
        /// Head forward per slice (validation and test).
        public var forwardPerSlice: Double
        public var checkpointWrite: Double
        /// Loading the data (scan, volumes, split), and scoring + writing one test volume.
        public var dataLoad = 0.0, scorePerVolume = 0.0
        /// Reading one cached embedding: a training entry (`cache.dtype`) and an evaluation entry (fp32).
        public var cacheReadTrain = 0.0, cacheReadEvaluation = 0.0
        public var parameters: Int
        /// The all-reduce model's per-message latency (s) and bandwidth (bytes/s).
        public var latency: Double
        public var bandwidth: Double

        public init(encoderPass: Double, headStepOne: Double, headStepBatch: Double, batchSize: Int,
                    forwardPerSlice: Double, checkpointWrite: Double, parameters: Int, latency: Double,
                    bandwidth: Double) {
            (self.encoderPass, self.headStepOne) = (encoderPass, headStepOne)
            (self.headStepBatch, self.batchSize) = (headStepBatch, batchSize)
            (self.forwardPerSlice, self.checkpointWrite) = (forwardPerSlice, checkpointWrite)
            self.parameters = parameters
            (self.latency, self.bandwidth) = (latency, bandwidth)
        }

        /// A head step on `b` local slices (0 for an idle rank), linear between the measurements.
        public func headStep(_ b: Int) -> Double {
            guard b > 0 else { return 0 }
            guard batchSize > 1 else { return headStepOne * Double(b) }
            return headStepOne + Double(b - 1) * (headStepBatch - headStepOne) / Double(batchSize - 1)
        }

        /// One all-reduce of `floats` floats over `ranks` ranks (ring model).
        public func allReduce(ranks: Int, floats: Int) -> Double {
            guard ranks > 1 else { return 0 }
            let r = Double(ranks)
            return 2 * log2(r) * latency + 2 * (r - 1) / r * 4 * Double(floats) / bandwidth
        }
    }

    /// What the config asks for, in slices and steps.
    public struct Workload: Equatable {
        public var train = 0, validation = 0, test = 0, unlabelled = 0
        /// Test volumes (scored one by one by the coordinator).
        public var testVolumes = 0
        public var config: ExperimentConfig

        public init(config: ExperimentConfig, train: Int, validation: Int, test: Int, unlabelled: Int) {
            self.config = config
            (self.train, self.validation, self.test, self.unlabelled) = (train, validation, test, unlabelled)
        }
    }

    /// Projected wall seconds per phase; `perSeed` phases are for one seed, `seedsWall` for all.
    public struct Phases: Equatable {
        public var setup = 0.0, cache = 0.0, pretraining = 0.0, training = 0.0, validation = 0.0, test = 0.0
        public var seedGroups = 1, ranksPerGroup = 1
        public var seedsWall = 0.0
        public var total: Double { setup + cache + seedsWall }
        public var perSeed: Double { pretraining + training + validation + test }
    }

    public static func project(_ w: Workload, _ u: UnitCosts, ranks: Int) -> Phases {
        let c = w.config
        var p = Phases()
        func shard(_ n: Int, _ r: Int) -> Double { Double((n + r - 1) / r) }
        p.setup = u.dataLoad
        let scoring = Double(w.testVolumes) * u.scorePerVolume
        if c.head.kind == .samBox {
            p.test = shard(w.test, ranks) * u.encoderPass + scoring
            p.seedsWall = p.test
            return p
        }
        var entries = 0
        if c.cache.enabled {
            entries = w.validation + w.test
            if c.data.augmentation == .none { entries += w.train }
            if c.data.augmentation == .bank { entries += w.train * c.data.bank_views }
        }
        p.cache = shard(entries, ranks) * u.encoderPass
        let seeds = c.seeds.count
        p.seedGroups = seeds > 1 && ranks >= seeds ? seeds : 1
        p.ranksPerGroup = max(1, ranks / p.seedGroups)
        let g = p.ranksPerGroup, b = c.optim.batch_size
        let local = (b + g - 1) / g
        let encoderPerStep = c.data.augmentation == .reference ? Double(local) * u.encoderPass
            : Double(local) * (c.cache.enabled ? u.cacheReadTrain : u.encoderPass)
        let step = encoderPerStep + u.headStep(local) + u.allReduce(ranks: g, floats: u.parameters)
            + (g > 1 ? u.latency : 0)
        let stepsPerEpoch = (w.train + b - 1) / b
        p.training = Double(c.optim.epochs) * (Double(stepsPerEpoch) * step + u.checkpointWrite)
        let evalSlice = u.forwardPerSlice + (c.cache.enabled ? u.cacheReadEvaluation : u.encoderPass)
        p.validation = Double(c.optim.epochs / c.optim.validate_every) * shard(w.validation, g) * evalSlice
        p.test = shard(w.test, g) * evalSlice + scoring
        if c.pretrain.method == .simclr {
            let n = c.pretrain.batch_size, views = 2 * ((n + g - 1) / g)
            let steps = w.unlabelled / n + (w.unlabelled % n >= 2 ? 1 : 0)
            p.pretraining = Double(c.pretrain.epochs * steps)
                * (u.headStep(views) + u.allReduce(ranks: g, floats: u.parameters))
        }
        p.seedsWall = p.seedGroups > 1 ? p.perSeed : Double(seeds) * p.perSeed
        return p
    }
}
