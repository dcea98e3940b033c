import XCTest
import TensorFiles
import Heads
import Layers
import SAM
import Tensors
import TestSupport

/// The AutoSAM decoder head against the PyTorch fixtures (`autosam_head`, `autosam_adam`,
/// `tiny_sam.pth` on `head_inputs`), the SAM import and the initialisation rules. The fixture
/// head's configuration is read off `tiny_sam.pth` (as a real run builds it) and the class count
/// off the fixture's `iou_token`. Tiny configurations (finite differences, an overfit run) are in
/// `AutoSAMHeadBackwardTests`.
final class AutoSAMHeadTests: XCTestCase {
    static let fixture = "autosam_head"

    /// The fixture's head: D, depth, MLP dim, IoU head from tiny SAM's shapes, heads from the
    /// manifest config (shapes do not show them), K from the fixture.
    func fixtureHead() throws -> AutoSAMHead {
        let heads = try XCTUnwrap(Fixtures.config["dec_num_heads"] as? Int)
        let classes = try Fixtures.file(Self.fixture).entry("params/" + AutoSAMHead.Key.iouToken).shape[0]
        let archive = try TensorArchives.open(Fixtures.url("tiny_sam.pth"))
        return AutoSAMHead(config: try .inferred(from: archive, classes: classes, heads: heads))
    }

    /// Trainable and frozen state holding the fixture's `params/*`.
    func fixtureState(_ head: AutoSAMHead) throws -> (TrainableState, FrozenState) {
        let file = try Fixtures.file(Self.fixture)
        var (state, frozen) = head.initialState(seed: 1)
        for name in head.layout.names { state.setParameter(name, try file.tensor("params/" + name)) }
        for name in head.frozenLayout.names { frozen.set(name, try file.tensor("params/" + name)) }
        return (state, frozen)
    }

    static func manifest(_ file: String, _ key: String) -> [String]? {
        let files = Fixtures.manifest["files"] as? [String: Any]
        return (files?[file + ".safetensors"] as? [String: Any])?[key] as? [String]
    }

    /// Gradients that are mathematically zero (FIXTURES quirks 2 and 17): absolute tolerance only.
    static func isZeroGradient(_ name: String) -> Bool {
        name.hasSuffix("k_proj.bias") || name.hasPrefix(AutoSAMHead.Key.hypernetwork(1))
    }

    // MARK: - Fixtures

    func testLayoutsMatchReference() throws {
        let head = try fixtureHead(), file = try Fixtures.file(Self.fixture)
        XCTAssertEqual(head.layout.names, Self.manifest(Self.fixture, "trainable_params_in_order"))
        let frozen = try XCTUnwrap(Self.manifest(Self.fixture, "frozen_params")) + [AutoSAMHead.Key.gaussianMatrix]
        XCTAssertEqual(head.frozenLayout.names, frozen)
        for entry in head.layout.entries + head.frozenLayout.entries {
            XCTAssertEqual(try file.entry("params/" + entry.name).shape, entry.shape, entry.name)
        }
        let stored = file.names.filter { $0.hasPrefix("params/") }.map { String($0.dropFirst(7)) }
        XCTAssertEqual(Set(stored), Set(head.layout.names + head.frozenLayout.names))
    }

    func testForwardLossAndGradientsMatchFixture() throws {
        let head = try fixtureHead(), file = try Fixtures.file(Self.fixture)
        let inputs = try HeadFixtureTests.Inputs.load()
        let (state, frozen) = try fixtureState(head)
        var workspace = head.makeWorkspace()
        workspace.keepsUpscaledEmbedding = true
        let logits = head.forward(inputs.embeddings, state: state, frozen: frozen, workspace: &workspace)
        func check(_ actual: Tensor, _ key: String) throws {
            let expected = try file.tensor(key)
            assertClose(Tensor(shape: expected.shape, data: actual.data), expected,
                        atol: Fixtures.suggestedAtol(Self.fixture, key), rtol: 1e-4, key)
            XCTAssertEqual(actual.count, expected.count, key)
        }
        try check(logits, "masks")
        try check(workspace.iouPredictions, "iou_pred")
        try check(workspace.imagePE, "image_pe")
        try check(workspace.tokens, "tokens")
        try check(workspace.transformerQueries, "transformer_hs")
        try check(workspace.transformerKeys, "transformer_src")
        try check(workspace.upscaledEmbedding, "upscaled_embedding")
        try check(workspace.hyperIn, "hyper_in")
        try check(workspace.iouPredictionsAll, "iou_pred_all")

        // Loss parts and every gradient through the training path, on 1, 2 and 3 ranks.
        try FixtureTrainingPath.check(head, state: state, frozen: frozen, fixture: Self.fixture,
                                      rtol: { Self.isZeroGradient($0) ? 0 : 1e-4 })
    }

    func testInitialiseFromTinySAM() throws {
        let head = try fixtureHead(), file = try Fixtures.file(Self.fixture)
        let archive = try TensorArchives.open(Fixtures.url("tiny_sam.pth"))
        let seeded = head.initialState(seed: 42).trainable
        var state = seeded
        let report = try head.initialiseFromSAM(archive: archive, into: &state)
        let loaded = try XCTUnwrap(Self.manifest(Self.fixture, "loaded_from_tiny_sam"))
        XCTAssertEqual(Set(report.copied), Set(loaded))
        for name in loaded { XCTAssertEqual(state.parameter(name), try file.tensor("params/" + name), name) }
        XCTAssertEqual(report.kept, [AutoSAMHead.Key.maskTokens])
        XCTAssertEqual(state.parameter(AutoSAMHead.Key.maskTokens), seeded.parameter(AutoSAMHead.Key.maskTokens))
        XCTAssertTrue(report.excluded.contains(AutoSAMHead.Key.iouToken)
                      && report.excluded.contains(AutoSAMHead.Key.maskTokens))
        XCTAssertTrue(report.excluded.allSatisfy { $0.contains("iou") || $0.contains("mask_tokens") })
        XCTAssertTrue(report.unused.contains { $0.hasPrefix("mask_decoder.output_hypernetworks_mlps.3.") },
                      "\(report.unused)")
        XCTAssertEqual(report.copied.count + report.excluded.count + report.unused.count,
                       archive.names.filter { $0.hasPrefix("mask_decoder.") }.count)
    }

    func testSAMImportRejectsMisShapedAndForeignCheckpoints() throws {
        let archive = try TensorArchives.open(Fixtures.url("tiny_sam.pth"))
        var config = try fixtureHead().config
        config.decoder.transformer.mlpDim *= 2
        let head = AutoSAMHead(config: config)
        let seeded = head.initialState(seed: 3).trainable
        var state = seeded
        XCTAssertThrowsError(try head.initialiseFromSAM(archive: archive, into: &state)) { error in
            let names = (error as? LoadError)?.report.misshaped.map(\.name) ?? []
            XCTAssertEqual(names.count, 3 * config.decoder.transformer.depth, "\(error)")
            XCTAssertTrue(names.allSatisfy { $0.contains(".mlp.lin") }, "\(names)")
        }
        XCTAssertEqual(state, seeded, "a failed import must not change the state")
        let foreign = try TensorArchives.open(Fixtures.url("head_inputs.safetensors"))
        XCTAssertThrowsError(try head.initialiseFromSAM(archive: foreign, into: &state)) { error in
            XCTAssertEqual((error as? LoadError)?.report.misshaped, [])
        }
    }

    func testTwoAdamStepsMatchFixture() throws {
        let head = try fixtureHead(), file = try Fixtures.file(Self.fixture), adam = try Fixtures.file("autosam_adam")
        var (state, _) = try fixtureState(head)
        for name in head.layout.names {
            let g = try file.tensor("grads/" + name), e = head.layout.entry(name)!
            state.grads.replaceSubrange(e.offset ..< e.offset + e.count, with: g.data)
        }
        func compare(_ prefix: String, _ buffer: [Float]) throws {
            for name in head.layout.names {
                let key = prefix + name
                assertClose(head.layout.tensor(name, in: buffer), try adam.tensor(key),
                            atol: Fixtures.suggestedAtol("autosam_adam", key), rtol: 1e-4, key)
            }
        }
        state.step()
        try compare("step1/", state.params)
        state.step()
        try compare("step2/", state.params)
        try compare("exp_avg_step2/", state.adam.m)
        try compare("exp_avg_sq_step2/", state.adam.v)
    }

    // MARK: - Initialisation

    func testInitialisationRules() throws {
        let head = try fixtureHead(), d = head.inputChannels, config = head.config.decoder
        let di = config.transformer.crossInternalDim, t = "mask_decoder.transformer.layers.0."
        func bound(_ fanIn: Int) -> ParameterInit { .pyTorchDefault(fanIn: fanIn) }
        let expected: [(String, ParameterInit)] = [
            (AutoSAMHead.Key.iouToken, .normal(mean: 0, std: 1)),
            (AutoSAMHead.Key.maskTokens, .normal(mean: 0, std: 1)),
            (AutoSAMHead.Key.gaussianMatrix, .normal(mean: 0, std: 1)),
            (t + "norm1.weight", .constant(1)), (t + "norm4.bias", .constant(0)),
            ("mask_decoder.output_upscaling.1.weight", .constant(1)),
            (t + "self_attn.q_proj.weight", bound(d)), (t + "cross_attn_image_to_token.out_proj.weight", bound(di)),
            (t + "cross_attn_image_to_token.out_proj.bias", bound(di)),
            (t + "mlp.lin2.bias", bound(config.transformer.mlpDim)),
            ("mask_decoder.output_upscaling.0.weight", bound(d / 4 * 4)),
            ("mask_decoder.output_upscaling.3.bias", bound(d / 8 * 4)),
            ("mask_decoder.output_hypernetworks_mlps.1.layers.2.weight", bound(d)),
            ("mask_decoder.iou_prediction_head.layers.2.bias", bound(config.iouHeadHiddenDim)),
        ]
        for (name, rule) in expected { XCTAssertEqual(head.initialization(of: name), rule, name) }
        let (state, frozen) = head.initialState(seed: 9)
        let gaussian = frozen.tensor(AutoSAMHead.Key.gaussianMatrix).data
        let expectedGaussian = ParameterInit.normal(mean: 0, std: 1)
            .values(count: gaussian.count, name: AutoSAMHead.Key.gaussianMatrix, seed: 9)
        XCTAssertEqual(gaussian, expectedGaussian)
        XCTAssertNotEqual(head.initialState(seed: 10).frozen.values, frozen.values,
                          "the seed must change the random buffers")
        XCTAssertEqual(state.parameter(t + "norm2.weight").data, [Float](repeating: 1, count: d))
    }
}
