import Collectives
import Datasets
import Foundation
import Tensors

/// The frozen encoder as the trainer sees it: images in, embeddings out.
public protocol SliceEncoder: AnyObject {
    /// Names the weights and the preprocessing, so cached embeddings are never mixed up.
    var cacheKey: String { get }
    /// (C, g, g) of every embedding.
    var embeddingShape: [Int] { get }
    /// embeddings (C, g, g) of one network input image (channels, S, S) as the augmenter produces it.
    func encode(_ image: Tensor) throws -> Tensor
}

/// Embeddings and labels of slices for training and evaluation, through the embedding cache
/// where the augmentation mode allows it (DESIGN §5):
/// - `none`: clean embeddings, cached, every epoch;
/// - `bank`: `views` augmented views per training slice, each encoded once and cached, one drawn
///   per (epoch, slice) from the seed;
/// - `reference`: a fresh augmentation every step, encoded every step (nothing cached for training).
/// Validation and test slices always use clean cached embeddings.
public final class EmbeddingProvider {
    public enum Mode: String, Sendable { case reference, bank, none }

    public let encoder: SliceEncoder
    public let cache: EmbeddingCache?
    /// Augmentation settings; the training view's seed is the head's seed, the bank's is `bankSeed`.
    public let augmentation: AugmentationConfig
    public let bankSeed: UInt64
    public let mode: Mode
    public let views: Int
    /// Encoder calls made by this provider (the cache test counts them).
    public private(set) var encoderCalls = 0

    public init(encoder: SliceEncoder, cache: EmbeddingCache?, augmentation: AugmentationConfig, bankSeed: UInt64,
                mode: Mode, views: Int) {
        self.encoder = encoder
        self.cache = cache
        self.augmentation = augmentation
        self.bankSeed = bankSeed
        self.mode = mode
        self.views = views
    }

    public struct Sample {
        public let embedding: Tensor     // (C, g, g)
        public let labels: [Int32]       // S x S
    }

    /// The clean (evaluation) view of slice `id`.
    public func clean(_ set: SliceSet, _ id: Int) throws -> Sample {
        let view = Augmenter(config: augmentation, seed: 0).evaluationView(set, slice: id)
        return Sample(embedding: try cached(set, id, view: 0) { view.image }, labels: Self.labels(view))
    }

    /// The training view of slice `id` in `epoch`.
    public func training(_ set: SliceSet, _ id: Int, epoch: Int, seed: UInt64) throws -> Sample {
        switch mode {
        case .none:
            return try clean(set, id)
        case .reference:
            let view = Augmenter(config: augmentation, seed: seed).augment(set, slice: id, epoch: epoch)
            encoderCalls += 1
            return Sample(embedding: try encoder.encode(view.image), labels: Self.labels(view))
        case .bank:
            let v = bankView(set, id, epoch: epoch, seed: seed)
            let view = bankAugmentation(set, id, view: v)
            return Sample(embedding: try cached(set, id, view: 1 + v) { view.image }, labels: Self.labels(view))
        }
    }

    /// Encodes and caches every clean embedding of `sets` (and every bank view of `train`) that is
    /// missing, sharded over the ranks of `comm` (DESIGN §4.5); returns when all ranks are done.
    public func prebuild(train: SliceSet, evaluation: [SliceSet], comm: Communicator,
                         progress: (Int, Int) -> Void) throws {
        guard cache != nil else { return }
        var work: [(SliceSet, Int, Int)] = []           // (set, slice, view); view 0 = clean
        for set in evaluation + (mode == .none ? [train] : []) {
            work += (0..<set.count).map { (set, $0, 0) }
        }
        if mode == .bank {
            for id in 0..<train.count { work += (0..<views).map { (train, id, 1 + $0) } }
        }
        let mine = BatchSharding.share(Array(work.indices), rank: comm.rank, size: comm.size)
        for (done, index) in mine.enumerated() {
            let (set, id, view) = work[index]
            if view == 0 { _ = try clean(set, id) } else {
                let augmented = bankAugmentation(set, id, view: view - 1)
                _ = try cached(set, id, view: view) { augmented.image }
            }
            progress(done + 1, mine.count)
        }
        try comm.barrier()
    }

    private func bankView(_ set: SliceSet, _ id: Int, epoch: Int, seed: UInt64) -> Int {
        Int(CounterRNG(seed: seed, stream: 0xBA9C).substream(UInt64(epoch), UInt64(set.slices[id].id)).uniformInt(0, below: UInt64(views)))
    }

    /// Bank view v is the augmentation of "epoch" v under `bankSeed`, independent of the head's
    /// seed, so all seeds share one cached bank (the cache key holds the view, not the seed).
    private func bankAugmentation(_ set: SliceSet, _ id: Int, view v: Int) -> AugmentedSlice {
        Augmenter(config: augmentation, seed: bankSeed).augment(set, slice: id, epoch: v)
    }

    private func cached(_ set: SliceSet, _ id: Int, view: Int, image: () -> Tensor) throws -> Tensor {
        let record = set.slices[id]
        guard let cache else {
            encoderCalls += 1
            return try encoder.encode(image())
        }
        let name = view == 0 ? record.volume : "\(record.volume)_bank\(bankSeed)"
        let key = EmbeddingCache.entryKey(volume: name, slice: record.index, view: view, pixels: set.image(id))
        return try cache.value(key) {
            encoderCalls += 1
            return try encoder.encode(image())
        }
    }

    static func labels(_ view: AugmentedSlice) -> [Int32] {
        (view.labels ?? []).map { Int32($0) }
    }
}
