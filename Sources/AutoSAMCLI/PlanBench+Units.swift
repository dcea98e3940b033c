import Config
import Embeddings
import Foundation
import Experiments
import Heads
import Training
import Runs
import Tensors

extension PlanBenchCommand {
    /// The unit costs of `config` on one rank (encoder passes cached by encoder in `encoderCosts`).
    func measure(_ config: ExperimentConfig, encoderCosts: inout [String: Double]) throws -> CostPlan.UnitCosts {
        let encoder = try SliceEncoders.make(config)
        let s = config.data.slice_size
        if encoderCosts[encoder.cacheKey] == nil {
            let image = Tensor(shape: [3, s, s], data: CounterRNG(seed: 5).uniforms(3 * s * s, low: 0, high: 1))
            _ = try encoder.encode(image)
            encoderCosts[encoder.cacheKey] = BenchHarness.median(try (0..<repeats).map { _ in
                try BenchHarness.seconds { _ = try encoder.encode(image) }
            })
        }
        let encoderPass = encoderCosts[encoder.cacheKey]!
        if config.head.kind == .samBox {
            return CostPlan.UnitCosts(encoderPass: encoderPass, headStepOne: 0, headStepBatch: 0, batchSize: 1,
                                      forwardPerSlice: 0, checkpointWrite: 0, parameters: 0, latency: 0, bandwidth: 1)
        }
        let head = try HeadFactory.make(config, inputChannels: encoder.embeddingShape[0])
        var units = try head.visit(HeadUnits(config: config, embedding: encoder.embeddingShape, repeats: repeats,
                                             encoderPass: encoderPass))
        if config.cache.enabled {
            let shape = encoder.embeddingShape
            units.cacheReadTrain = try Self.cacheRead(shape: shape, precision: config.cache.dtype, repeats: repeats)
            units.cacheReadEvaluation = try Self.cacheRead(shape: shape, precision: .fp32, repeats: repeats)
        }
        return units
    }

    /// Median seconds to read one cached embedding of `shape` at `precision`, as a training step or
    /// a validation slice does: `repeats` + 1 random entries are written to a temporary cache, then
    /// each is read once (the first read, which warms the code path, is not counted).
    static func cacheRead(shape: [Int], precision: CachePrecision, repeats: Int) throws -> Double {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("autosam-plan-cache-\(getpid())")
        defer { try? FileManager.default.removeItem(at: root) }
        let cache = try EmbeddingCache(root: root, folderKey: "plan")
        let count = shape.reduce(1, *), keys = (0...repeats).map { "entry\($0)" }
        for (i, key) in keys.enumerated() {
            let values = CounterRNG(seed: 11).substream(UInt64(i)).uniforms(count, low: -1, high: 1)
            try cache.store(key, Tensor(shape: shape, data: values), precision)
        }
        let times = try keys.map { key in
            try BenchHarness.seconds {
                guard cache.load(key, precision) != nil else {
                    throw RunFileError(path: cache.url(for: key, precision).path, message: "could not read it back")
                }
            }
        }
        return BenchHarness.median(Array(times.dropFirst()))
    }
}
