import Collectives
import Config
import Datasets
import Foundation
import Tensors

/// The frozen encoder as the trainer sees it: images in, embeddings out.
public protocol SliceEncoder: AnyObject {
    /// Names everything of the encoder that changes an embedding of a given input image: the
    /// weights, the architecture (the full encoder configuration, input size included) and the
    /// input mode with its parameters, so cached embeddings are never mixed up. The same in every
    /// process and on every machine.
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
/// Validation and test slices always use clean embeddings at full precision (cached as fp32
/// whatever the training entries' precision), exactly what a fresh encoder pass gives, so a run's
/// own test predictions and `autosam predict` (which encodes fresh) are the same masks.
///
/// Cache keys. An entry is `<root>/<folder key>/<entry key>.<precision>.emb`, and the keys cover
/// exactly these, so these are the only things that may change a cached value:
/// - folder key `<encoder.cacheKey>-<digest>`: the encoder (`SliceEncoder.cacheKey`: weights,
///   architecture, input mode and its parameters) and a digest of the network input's settings:
///   `augmentation.outputSize` (`data.slice_size`), `augmentation.channels` and `codeVersion`;
/// - entry key `<volume>_z<index>_v<view>_<pixel hash>`: the slice (volume name, slice index,
///   FNV-1a of its pixels as the slice set holds them) and the view (0 clean, 1 + v bank view v);
///   bank entries' volume part also carries a digest of the full `AugmentationConfig` and
///   `bankSeed`;
/// - the stored precision (fp16/fp32), in the file name.
/// So a clean view may depend on the slice's pixels, the output size and the channel count only,
/// and a bank view on those, the augmentation config, the bank seed and its index. The digests
/// are SHA-256 prefixes of canonical descriptions, the same in every process and on every
/// machine. A code change that makes another input or embedding from the same settings must bump
/// `codeVersion`; a new setting that does must join the keys.
public final class EmbeddingProvider {
    public typealias Mode = AugmentationMode

    /// Version of the code that turns a slice into an embedding (the augmenter's views, the
    /// encoder's preprocessing and forward pass), part of the cache folder key: bump it when a
    /// code change gives other embeddings for the same settings. 2: slices min-max scaled to
    /// [0, 1] before augmentation and fed to the encoder as they are.
    public static let codeVersion = 2

    public let encoder: SliceEncoder
    public let cache: EmbeddingCache?
    /// Precision of the cached training entries (clean views in `none` mode, bank views):
    /// `cache.dtype`. Evaluation entries are always fp32.
    public let precision: EmbeddingCache.Precision
    /// Augmentation settings; the training view's seed is the head's seed, the bank's is `bankSeed`.
    public let augmentation: AugmentationConfig
    public let bankSeed: UInt64
    public let mode: Mode
    public let views: Int
    /// Encoder calls made by this provider (the cache test counts them).
    public private(set) var encoderCalls = 0
    /// Names the bank's views in entry keys: a digest of `augmentation` and `bankSeed`.
    private let bankName: String

    /// The cache, when `cacheRoot` is given, is the folder of this encoder and input settings
    /// under `cacheRoot` (see the type's "Cache keys").
    public init(encoder: SliceEncoder, cacheRoot: URL?, precision: EmbeddingCache.Precision,
                augmentation: AugmentationConfig, bankSeed: UInt64, mode: Mode, views: Int) throws {
        self.encoder = encoder
        self.cache = try cacheRoot.map {
            try EmbeddingCache(root: $0, folderKey: Self.folderKey(encoder: encoder, augmentation: augmentation))
        }
        self.precision = precision
        self.augmentation = augmentation
        self.bankSeed = bankSeed
        self.mode = mode
        self.views = views
        self.bankName = "bank-"
            + (try EmbeddingCache.digest(of: BankIdentity(seed: bankSeed, augmentation: augmentation)))
    }

    /// The provider a config asks for: `encoder`, the cache under `cache.dir` (default
    /// `<output.dir>/cache`) when `cache.enabled`, training entries at `cache.dtype`, the reference
    /// augmentation at `data.slice_size`, the bank seeded by `data.split_seed`.
    public static func make(_ config: ExperimentConfig, encoder: SliceEncoder) throws -> EmbeddingProvider {
        let cacheDir = config.cache.dir.isEmpty
            ? URL(fileURLWithPath: config.output.dir).appendingPathComponent("cache")
            : URL(fileURLWithPath: config.cache.dir)
        var augmentation = AugmentationConfig.reference
        augmentation.outputSize = config.data.slice_size
        return try EmbeddingProvider(encoder: encoder, cacheRoot: config.cache.enabled ? cacheDir : nil,
                                     precision: config.cache.dtype,
                                     augmentation: augmentation, bankSeed: UInt64(config.data.split_seed),
                                     mode: config.data.augmentation, views: config.data.bank_views)
    }

    /// The cache folder name for `encoder` fed the clean views of `augmentation`.
    public static func folderKey(encoder: SliceEncoder, augmentation: AugmentationConfig) -> String {
        let inputs = "code v\(codeVersion); slice size \(augmentation.outputSize); channels \(augmentation.channels)"
        return encoder.cacheKey + "-" + EmbeddingCache.digest(inputs)
    }

    public struct Sample {
        public let embedding: Tensor     // (C, g, g)
        public let labels: [Int32]       // S x S
    }

    /// The clean (evaluation) view of slice `id` at full precision, as a fresh encoder pass gives it.
    public func clean(_ set: SliceSet, _ id: Int) throws -> Sample {
        try cleanView(set, id, at: .fp32)
    }

    /// The training view of slice `id` in `epoch`.
    public func training(_ set: SliceSet, _ id: Int, epoch: Int, seed: UInt64) throws -> Sample {
        switch mode {
        case .none:
            return try cleanView(set, id, at: precision)
        case .reference:
            let view = Augmenter(config: augmentation, seed: seed).augment(set, slice: id, epoch: epoch)
            encoderCalls += 1
            return Sample(embedding: try encoder.encode(view.image), labels: Self.labels(view))
        case .bank:
            let v = bankView(set, id, epoch: epoch, seed: seed)
            let view = bankAugmentation(set, id, view: v)
            return Sample(embedding: try cached(set, id, view: 1 + v, precision) { view.image },
                          labels: Self.labels(view))
        }
    }

    /// Encodes and caches every clean embedding of `sets` (and every bank view of `train`) that is
    /// missing, sharded over the ranks of `comm` (DESIGN §4.5), then gives every rank whose
    /// (node-local) cache lacks entries others built a copy (`shareMissing`); returns when all
    /// ranks are done.
    public func prebuild(train: SliceSet, evaluation: [SliceSet], comm: Communicator,
                         progress: (Int, Int) -> Void) throws {
        guard cache != nil else { return }
        // (set, slice, view, precision); view 0 = clean
        var work: [(SliceSet, Int, Int, EmbeddingCache.Precision)] = []
        for set in evaluation {
            work += (0..<set.count).map { (set, $0, 0, .fp32) }
        }
        if mode == .none {
            work += (0..<train.count).map { (train, $0, 0, precision) }
        }
        if mode == .bank {
            for id in 0..<train.count { work += (0..<views).map { (train, id, 1 + $0, precision) } }
        }
        let mine = BatchSharding.share(Array(work.indices), rank: comm.rank, size: comm.size)
        for (done, index) in mine.enumerated() {
            let (set, id, view, entryPrecision) = work[index]
            if view == 0 { _ = try cleanView(set, id, at: entryPrecision) } else {
                let augmented = bankAugmentation(set, id, view: view - 1)
                _ = try cached(set, id, view: view, entryPrecision) { augmented.image }
            }
            progress(done + 1, mine.count)
        }
        try shareMissing(work.map { (entryKey($0.0, $0.1, view: $0.2), $0.3) }, comm: comm)
    }

    /// Node-local caches (issue 15): `cache.dir` may be a folder each node sees on its own disk,
    /// so an entry another node's rank built is absent here. Every rank lists the entries of
    /// `work` its cache lacks, the lists are merged (one all-reduce), and each missing entry is
    /// sent by the rank that built it (its position in the sharded work) to every rank, which
    /// stores it when its own cache lacks it. With a shared cache folder nothing is missing and
    /// nothing is sent; no rank ever reads another node's files.
    private func shareMissing(_ work: [(key: String, precision: EmbeddingCache.Precision)], comm: Communicator) throws {
        guard let cache, comm.size > 1 else { return try comm.barrier() }
        try comm.barrier()                      // every rank's own entries are written
        var missing = work.map { cache.contains($0.key, $0.precision) ? 0.0 : 1.0 }
        try comm.allReduceMax(&missing)
        for (index, entry) in work.enumerated() where missing[index] > 0 {
            let owner = index % comm.size       // BatchSharding's dealing of `work`
            var bytes = comm.rank == owner ? cache.entryBytes(entry.key, entry.precision).map(Array.init) ?? [] : []
            try comm.broadcast(&bytes, root: owner)
            if !bytes.isEmpty && !cache.contains(entry.key, entry.precision) {
                try cache.storeEntryBytes(Data(bytes), entry.key, entry.precision)   // else computed when first needed
            }
        }
        try comm.barrier()
    }

    /// The clean view of slice `id`, cached at `precision`.
    private func cleanView(_ set: SliceSet, _ id: Int, at precision: EmbeddingCache.Precision) throws -> Sample {
        let view = Augmenter(config: augmentation, seed: 0).evaluationView(set, slice: id)
        return Sample(embedding: try cached(set, id, view: 0, precision) { view.image }, labels: Self.labels(view))
    }

    private func bankView(_ set: SliceSet, _ id: Int, epoch: Int, seed: UInt64) -> Int {
        Int(CounterRNG(seed: seed, stream: 0xBA9C).substream(UInt64(epoch), UInt64(set.slices[id].id))
            .uniformInt(0, below: UInt64(views)))
    }

    /// Bank view v is the augmentation of "epoch" v under `bankSeed`, independent of the head's
    /// seed, so all seeds share one cached bank (the entry key holds the view, not the head's seed).
    private func bankAugmentation(_ set: SliceSet, _ id: Int, view v: Int) -> AugmentedSlice {
        Augmenter(config: augmentation, seed: bankSeed).augment(set, slice: id, epoch: v)
    }

    /// The embedding of view `view` of slice `id` (`image` makes its encoder input), from the cache
    /// at `precision` when there is one, else a fresh encoder pass.
    private func cached(_ set: SliceSet, _ id: Int, view: Int, _ precision: EmbeddingCache.Precision,
                        image: () -> Tensor) throws -> Tensor {
        guard let cache else {
            encoderCalls += 1
            return try encoder.encode(image())
        }
        return try cache.value(entryKey(set, id, view: view), precision) {
            encoderCalls += 1
            return try encoder.encode(image())
        }
    }

    /// The entry key of view `view` of slice `id` (see the type's "Cache keys").
    private func entryKey(_ set: SliceSet, _ id: Int, view: Int) -> String {
        let record = set.slices[id]
        let name = view == 0 ? record.volume : "\(record.volume)_\(bankName)"
        return EmbeddingCache.entryKey(volume: name, slice: record.index, view: view, pixels: set.image(id))
    }

    static func labels(_ view: AugmentedSlice) -> [Int32] {
        (view.labels ?? []).map { Int32($0) }
    }
}

/// What a bank view is made from besides the slice and its view index (digested into bank entry keys).
private struct BankIdentity: Encodable {
    let seed: UInt64
    let augmentation: AugmentationConfig
}
