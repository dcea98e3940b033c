import Collectives
import Datasets
import Foundation
import SAM
import XCTest
import Layers
@testable import Baselines
@testable import Config
@testable import Embeddings
@testable import Evaluation
@testable import Experiments
@testable import Runs
@testable import Training

/// Issue 13 item 2: the embedding cache's keys cover every setting that changes an encoder input
/// or a stored value, so reusing a cache folder after changing one recomputes instead of reading
/// stale embeddings, and reusing it unchanged encodes nothing.
final class CacheIdentityTests: XCTestCase {
    /// One training and one evaluation volume of a small phantom dataset.
    static let sets: (train: SliceSet, evaluation: SliceSet) = {
        let index = try! DatasetIndex.scan(TinyRun.phantomData(patients: 2, seed: 7))
        let volumes = try! index.load()
        return (SliceSet(volumes: [volumes[0]]), SliceSet(volumes: [volumes.last!]))
    }()

    private static func temporaryFolder(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("cache-identity-\(name)-\(UUID().uuidString)")
    }

    /// A bank run of the random demo SAM encoder with an fp16 cache in `cache`.
    private static func config(cache: URL) -> ExperimentConfig {
        var c = ExperimentConfig()
        c.data.slice_size = 32
        c.data.augmentation = .bank
        c.data.bank_views = 2
        c.encoder.preset = .demoSmall
        c.cache.dir = cache.path
        c.cache.dtype = .fp16
        c.output.dir = temporaryFolder("run").path
        return c
    }

    /// The provider `config` makes, as training does.
    private func provider(_ config: ExperimentConfig) throws -> EmbeddingProvider {
        try Experiment(config: config, world: SingleProcessCommunicator(), encoderFactory: SliceEncoders.make)
            .makeProvider()
    }

    /// Encoder calls of building every entry `provider` needs for the shared sets.
    private func encoderCalls(_ provider: EmbeddingProvider) throws -> Int {
        try provider.prebuild(train: Self.sets.train, evaluation: [Self.sets.evaluation],
                              comm: SingleProcessCommunicator()) { _, _ in }
        return provider.encoderCalls
    }

    /// The base config's cache, built once; every test reuses a copy of it.
    private static let builtCache: URL = {
        let folder = temporaryFolder("base")
        let provider = try! Experiment(config: config(cache: folder), world: SingleProcessCommunicator(),
                                       encoderFactory: SliceEncoders.make).makeProvider()
        try! provider.prebuild(train: sets.train, evaluation: [sets.evaluation],
                               comm: SingleProcessCommunicator()) { _, _ in }
        return folder
    }()

    /// A fresh copy of the base config's built cache.
    private func copyOfBuiltCache() throws -> URL {
        let copy = Self.temporaryFolder("copy")
        try FileManager.default.copyItem(at: Self.builtCache, to: copy)
        return copy
    }

    private var train: Int { Self.sets.train.count }
    private var evaluation: Int { Self.sets.evaluation.count }

    func testUnchangedSettingsHitTheCache() throws {
        let empty = Self.config(cache: Self.temporaryFolder("empty"))
        XCTAssertEqual(try encoderCalls(try provider(empty)), evaluation + 2 * train, "a new cache encodes every entry")
        let cache = try copyOfBuiltCache()
        var same = Self.config(cache: cache)
        same.optim.lr = 0.1                     // no say in any embedding
        same.seeds = [5]
        same.output.dir = Self.temporaryFolder("other-run").path
        XCTAssertEqual(try encoderCalls(try provider(same)), 0)
        XCTAssertEqual(try provider(same).cache?.directory, try provider(Self.config(cache: cache)).cache?.directory)
    }

    /// Each config change that makes other encoder inputs or other stored values misses exactly
    /// the entries it changes; the clean views it does not change are still read from the cache.
    func testEverySettingThatChangesEncoderInputsOrStoredValuesMisses() throws {
        let bank = 2 * train, all = evaluation + 2 * train
        let changes: [(String, Int, (inout ExperimentConfig) -> Void)] = [
            ("data.slice_size", all, { $0.data.slice_size = 48 }),
            ("data.input_mode", all, { $0.data.input_mode = .sam }),
            ("encoder.random_seed", all, { $0.encoder.random_seed = 1 }),
            // Evaluation entries are fp32 whatever cache.dtype; the bank's change precision.
            ("cache.dtype", bank, { $0.cache.dtype = .fp32 }),
            ("data.split_seed (the bank seed)", bank, { $0.data.split_seed = 1 }),
            // The clean training views are new entries; the bank's views 0, 1 are reused by K = 3.
            ("data.augmentation", train, { $0.data.augmentation = .none }),
            ("data.bank_views", train, { $0.data.bank_views = 3 }),
        ]
        for (setting, expected, change) in changes {
            var config = Self.config(cache: try copyOfBuiltCache())
            change(&config)
            XCTAssertEqual(try encoderCalls(try provider(config)), expected, setting)
        }
    }

    /// A bank view is made by the full augmentation config: changing any of it misses the bank's
    /// entries; clean views use the output size and channels only, which the folder key covers.
    func testAugmentationSettingsMissTheEntriesTheyChange() throws {
        let base = try provider(Self.config(cache: Self.builtCache))
        func calls(_ change: (inout AugmentationConfig) -> Void) throws -> Int {
            var augmentation = base.augmentation
            change(&augmentation)
            return try encoderCalls(try EmbeddingProvider(encoder: base.encoder, cacheRoot: try copyOfBuiltCache(),
                                                          precision: .fp16, augmentation: augmentation,
                                                          bankSeed: base.bankSeed, mode: .bank, views: 2))
        }
        XCTAssertEqual(try calls { _ in }, 0)
        XCTAssertEqual(try calls { $0.brightnessStd = 0.5 }, 2 * train)
        XCTAssertEqual(try calls { $0.elasticSigmaRange = 40...61 }, 2 * train)
        XCTAssertEqual(try calls { $0.channels = 1 }, evaluation + 2 * train)
    }

    /// The SAM encoder's key names the weights, the input mode and every field of its
    /// configuration.
    func testSAMEncoderKeysCoverTheWholeEncoderConfig() throws {
        let base = SAMSliceEncoder.demoSmall
        func key(_ change: (inout EncoderConfig) -> Void = { _ in }, weights: String = "sam-0123",
                 mode: Preprocessing.Mode = .reference) throws -> String {
            var config = base
            change(&config)
            return try SAMSliceEncoder.cacheKey(weights: weights, config: config, mode: mode)
        }
        let variants = [
            try key(weights: "sam-4567"), try key(mode: .sam),
            try key { $0.imageSize = 512 }, try key { $0.patchSize = 8 }, try key { $0.embedDim = 48 },
            try key { $0.depth = 2 }, try key { $0.heads = 6 }, try key { $0.mlpRatio = 2 },
            try key { $0.windowSize = 4 },
            try key { $0.globalBlocks = [3] }, try key { $0.outChannels = 32 }, try key { $0.eps = 1e-5 },
        ]
        XCTAssertEqual(try key(), try key())
        XCTAssertEqual(Set(variants + [try key()]).count, variants.count + 1, "\(variants)")
        var c = ExperimentConfig()
        c.encoder.preset = .demoSmall
        XCTAssertEqual(try SAMSliceEncoder.make(c).cacheKey, try key(weights: "random-demo_small-seed0"))
        // bf16 embeddings differ from fp32 ones: their own key where the CPU runs them, a
        // configuration error naming the instruction set where it cannot.
        c.encoder.precision = .bf16
        if BFloat16Linear.support.available {
            XCTAssertEqual(try SAMSliceEncoder.make(c).cacheKey, try key(weights: "random-demo_small-seed0-bf16"))
        } else {
            XCTAssertThrowsError(try SAMSliceEncoder.make(c)) { error in
                XCTAssertTrue("\(error)".contains("encoder.precision") && "\(error)".contains("bf16"), "\(error)")
            }
        }
    }

    /// The identity encoder's key names only the input mode; its slice size and channels are the
    /// network input's, which the folder key covers.
    func testIdentityEncoderFoldersDifferBySliceSizeAndChannels() {
        let encoder = IdentitySliceEncoder(size: 32, inputMode: .reference)
        let keys = [AugmentationConfig.reference(outputSize: 32), .reference(outputSize: 64),
                    .reference(outputSize: 32, channels: 1)]
            .map { EmbeddingProvider.folderKey(encoder: encoder, augmentation: $0) }
        XCTAssertEqual(Set(keys).count, 3, "\(keys)")
        XCTAssertTrue(keys.allSatisfy { $0.hasPrefix("identity-reference-") }, "\(keys)")
    }
}
