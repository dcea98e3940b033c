import Collectives
import Config
import Datasets
import Embeddings
import Foundation
import Heads
import Layers
import Runs
import Tensors
import Training

/// Whole-volume inference (DESIGN §3.7, §4.6): every slice of a volume through its clean
/// embedding and the head, logits resized bilinearly from the network size back to the slice's
/// native size, argmax over classes, slices stacked in z order. Volumes are sharded over ranks
/// whole and the label maps gathered on the coordinator.
///
/// The embeddings are `EmbeddingProvider.clean`'s: full precision whatever `cache.dtype` (cached
/// as fp32 in training, fresh in `autosam predict`), so one trained model gives one answer: a
/// run's test predictions and `predict` on the same volumes are the same masks.
public struct VolumePredictor<Head: SegmentationHead> {
    var step: HeadStep<Head>
    let provider: EmbeddingProvider
    let sliceSize: Int
    let batchSize: Int

    public init(head: Head, provider: EmbeddingProvider, sliceSize: Int, batchSize: Int) {
        self.step = HeadStep(head: head)
        self.provider = provider
        self.sliceSize = sliceSize
        self.batchSize = batchSize
    }

    /// Label map (D, H, W) of volume `v` of `set`.
    public mutating func predict(volume v: Int, of set: SliceSet, params: [Float], template: TrainableState,
                                 frozen: FrozenState) throws -> [UInt8] {
        let volume = set.volumes[v]
        var out = [UInt8](repeating: 0, count: volume.depth * volume.height * volume.width)
        var state = template
        state.params = params
        try Self.forEachBatch(volume: v, of: set, provider: provider, batchSize: batchSize) { embeddings, z in
            let native = nativeLogits(embeddings, height: volume.height, width: volume.width, state: state,
                                      frozen: frozen)
            for (j, index) in z.enumerated() {
                Self.argmax(native, item: j, into: &out, offset: index * volume.height * volume.width)
            }
        }
        return out
    }

    /// Calls `body` with the clean embeddings (B, C, g, g) of consecutive batches of volume `v`'s
    /// slices (at most `batchSize`, z order) and their slice indices: one encoder pass per slice.
    static func forEachBatch(volume v: Int, of set: SliceSet, provider: EmbeddingProvider, batchSize: Int,
                             _ body: (Tensor, [Int]) throws -> Void) throws {
        let ids = set.slices.filter { $0.volumeIndex == v }.sorted { $0.index < $1.index }.map(\.id)
        for chunk in stride(from: 0, to: ids.count, by: batchSize) {
            let batchIds = Array(ids[chunk..<min(ids.count, chunk + batchSize)])
            let samples = try batchIds.map { try provider.clean(set, $0) }
            let embeddings = Tensor(shape: [samples.count] + samples[0].embedding.shape,
                                    data: samples.flatMap(\.embedding.data))
            try body(embeddings, batchIds.map { set.slices[$0].index })
        }
    }

    /// The head's logits (B, K, h, w) of `embeddings` (B, C, g, g), resized bilinearly from the
    /// network size to the native slice size h x w.
    mutating func nativeLogits(_ embeddings: Tensor, height h: Int, width w: Int, state: TrainableState,
                               frozen: FrozenState) -> Tensor {
        let (b, k) = (embeddings.shape[0], step.head.classes)
        let logits = step.predict(embeddings, labelSize: sliceSize, state: state, frozen: frozen)
        var native = Tensor(zeros: [b, k, h, w])
        logits.withPointer { x in
            native.withMutablePointer { y in
                BilinearResize.forward(y: y, x: x, planes: b * k, height: sliceSize, width: sliceSize,
                                       outHeight: h, outWidth: w)
            }
        }
        return native
    }

    static func argmax(_ logits: Tensor, item: Int, into out: inout [UInt8], offset: Int) {
        let (k, p) = (logits.shape[1], logits.shape[2] * logits.shape[3])
        logits.withPointer { x in
            let base = x + item * k * p
            for i in 0..<p {
                var best = 0
                var bestValue = base[i]
                for c in 1..<k where base[c * p + i] > bestValue {   // ties -> lowest class, as torch.argmax
                    best = c
                    bestValue = base[c * p + i]
                }
                out[offset + i] = UInt8(best)
            }
        }
    }

    /// Predicts this rank's share of the volumes of `set` and gathers every label map on the
    /// coordinator (nil elsewhere), indexed by volume.
    public mutating func predictAll(_ set: SliceSet, params: [Float], template: TrainableState, frozen: FrozenState,
                                    comm: Communicator) throws -> [[UInt8]]? {
        let mine = try BatchSharding.share(Array(set.volumes.indices), rank: comm.rank, size: comm.size).map { v in
            (volume: v, labels: try predict(volume: v, of: set, params: params, template: template, frozen: frozen))
        }
        return try LabelMapGather.gather(mine, count: set.volumes.count, comm: comm)
    }
}
