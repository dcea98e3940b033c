import Collectives
import Datasets
import Foundation
import Heads
import Tensors
@testable import Config
@testable import Embeddings
@testable import Evaluation
@testable import Runs
@testable import Training

/// `SpaceToDepthEncoder` that counts its calls (the ensemble must encode each slice once).
final class CountingEncoder: SliceEncoder {
    private let inner = SpaceToDepthEncoder()
    private(set) var calls = 0
    var cacheKey: String { inner.cacheKey }
    var embeddingShape: [Int] { inner.embeddingShape }

    func encode(_ image: Tensor) throws -> Tensor {
        calls += 1
        return try inner.encode(image)
    }
}

/// A `TinyRun` with two seeds, trained once per test process for the seed-ensemble tests.
enum TinyEnsembleRun {
    static let shared: (folder: URL, config: ExperimentConfig) = {
        var c = TinyRun.config(in: FileManager.default.temporaryDirectory
                                   .appendingPathComponent("tinyensemble-\(UUID().uuidString)"))
        c.name = "tiny-ensemble"
        c.data.root = TinyRun.phantomData(patients: 3, seed: 0).path
        c.seeds = [0, 1]
        c.optim.epochs = 8
        return (try! TinyRun.train(c), c)
    }()

    /// A copy of the shared run in a fresh folder, to damage or edit.
    static func copy() throws -> URL {
        let target = FileManager.default.temporaryDirectory
            .appendingPathComponent("tinyensemble-copy-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: shared.folder, to: target)
        return target
    }

    /// The run's test volumes as the ensemble loads them.
    static func testSet() throws -> SliceSet { try EnsemblePrediction(run: shared.folder).testSet() }

    /// The CNN head of the run's config and each seed's restored checkpoint (state with the test
    /// parameters, frozen buffers), through the code single-seed `predict` uses.
    static func members(provider: EmbeddingProvider) throws -> (CNNHead, [EnsemblePredictor<CNNHead>.Member]) {
        let c = shared.config
        let head = CNNHead(inputChannels: SpaceToDepthEncoder().embeddingShape[0], classes: c.data.classes,
                           depth: c.head.depth, topChannel: c.head.channels)
        let members = try c.seeds.map { seed -> EnsemblePredictor<CNNHead>.Member in
            let restored = try RunPrediction(run: shared.folder, seed: seed).restored(into: head, provider: provider)
            var state = restored.template
            state.params = restored.params
            return (state, restored.frozen)
        }
        return (head, members)
    }

    /// A provider on a fresh uncached encoder, as `predict` makes it.
    static func provider(_ encoder: SliceEncoder = SpaceToDepthEncoder()) throws -> EmbeddingProvider {
        try RunPrediction.inferenceProvider(shared.config) { _ in encoder }
    }

    /// Each member's native-size logits (K, H, W) of every slice of volume `v`, computed one
    /// member at a time with the single-seed predictor: [member][z].
    static func separateLogits(volume v: Int, of set: SliceSet) throws -> [[Tensor]] {
        let provider = try provider()
        let (head, members) = try members(provider: provider)
        let c = shared.config, volume = set.volumes[v]
        return members.map { member in
            var predictor = VolumePredictor(head: head, provider: provider, sliceSize: c.data.slice_size,
                                            batchSize: c.optim.batch_size)
            var slices: [Tensor] = []
            try! VolumePredictor<CNNHead>.forEachBatch(volume: v, of: set, provider: provider,
                                                       batchSize: c.optim.batch_size) { embeddings, z in
                let native = predictor.nativeLogits(embeddings, height: volume.height, width: volume.width,
                                                    state: member.state, frozen: member.frozen)
                let size = native.count / z.count
                for j in z.indices {
                    slices.append(Tensor(shape: Array(native.shape.dropFirst()),
                                         data: Array(native.data[j * size ..< (j + 1) * size])))
                }
            }
            return slices
        }
    }

    /// Softmax over classes of logits (K, P) at one pixel, in double precision.
    static func softmax(_ logits: Tensor, pixel i: Int) -> [Double] {
        let k = logits.shape[0], p = logits.count / k
        let x = (0..<k).map { Double(logits.data[$0 * p + i]) }
        let m = x.max()!
        let e = x.map { Foundation.exp($0 - m) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    static func entropy(_ p: [Double]) -> Double { -p.filter { $0 > 0 }.map { $0 * Foundation.log($0) }.reduce(0, +) }
}
