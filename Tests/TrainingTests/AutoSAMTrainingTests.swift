import TensorFiles
import Collectives
import Foundation
import TestSupport
import XCTest
@testable import Baselines
@testable import Config
@testable import Embeddings
@testable import Evaluation
@testable import Experiments
@testable import Runs
@testable import Training

/// The AutoSAM head trained end to end on a real (tiny) SAM checkpoint: the frozen encoder and
/// the head's initial mask-decoder weights both come from the checkpoint.
final class AutoSAMTrainingTests: XCTestCase {
    func testAutoSAMHeadStartsFromTheCheckpointAndTrains() throws {
        let root = FileManager.default.temporaryDirectory
            .appendingPathComponent("autosam-head-run-\(UUID().uuidString)")
        var c = ExperimentConfig()
        c.name = "autosam-tiny"
        c.data.root = root.appendingPathComponent("data").path
        c.data.synthesize_patients = 4
        c.data.slice_size = 40
        c.data.augmentation = .none
        c.encoder.checkpoint = Fixtures.url("tiny_sam.pth").path
        c.head.kind = .autosam
        c.optim.epochs = 1
        c.optim.lr = 1e-7
        c.seeds = [0]
        c.cache.dtype = .fp32
        c.output.dir = root.appendingPathComponent("run").path
        c.run.verify_ranks = true
        c.encoder.preset = .auto          // the tiny checkpoint matches no preset
        c.encoder.decoder_heads = 2        // the tiny SAM's two-way transformer
        let summaries = try LocalGroup.run(size: 2) { comm in
            try Experiment(config: c, world: comm) { try SAMSliceEncoder.make($0) }.run()
        }
        XCTAssertNotNil(summaries[0])
        let store = CheckpointStore(root: URL(fileURLWithPath: c.output.dir + "/seed_0/checkpoints"), keep: 10)
        let trained = try store.read(epoch: 1)
        let sam = try TensorArchives.open(Fixtures.url("tiny_sam.pth"))
        let name = "mask_decoder.transformer.layers.0.self_attn.q_proj.weight"
        let value = try XCTUnwrap(trained.params.first { $0.0 == name }?.1)
        assertClose(value.data, try sam.tensor(name).data, atol: 1e-4, rtol: 0, "\(name) starts from SAM")
        let token = try XCTUnwrap(trained.params.first { $0.0 == "mask_decoder.mask_tokens.weight" }?.1)
        XCTAssertEqual(token.shape, [2 * c.data.classes, try sam.tensor(name).shape[1]])
    }
}
