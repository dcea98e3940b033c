import XCTest
import Checkpoints
import Heads
import Layers
import SAM
import Tensors
import TestSupport

/// The AutoSAM decoder head against the PyTorch fixtures (`autosam_head`, `autosam_adam`,
/// `tiny_sam.pth` on `head_inputs`), finite differences on tiny configurations, an overfit run and
/// checkpoints. The fixture head's configuration is read off `tiny_sam.pth` (as a real run
/// builds it) and the class count off the fixture's `iou_token`.
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
        let head = try fixtureHead(), file = try Fixtures.file(Self.fixture), inputs = try HeadFixtureTests.Inputs.load()
        let (state, frozen) = try fixtureState(head)
        var workspace = head.makeWorkspace()
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
        XCTAssertTrue(report.excluded.contains(AutoSAMHead.Key.iouToken) && report.excluded.contains(AutoSAMHead.Key.maskTokens))
        XCTAssertTrue(report.excluded.allSatisfy { $0.contains("iou") || $0.contains("mask_tokens") })
        XCTAssertTrue(report.unused.contains { $0.hasPrefix("mask_decoder.output_hypernetworks_mlps.3.") }, "\(report.unused)")
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
            let names = (error as? SAMImportError)?.misShaped.map(\.name) ?? []
            XCTAssertEqual(names.count, 3 * config.decoder.transformer.depth, "\(error)")
            XCTAssertTrue(names.allSatisfy { $0.contains(".mlp.lin") }, "\(names)")
        }
        XCTAssertEqual(state, seeded, "a failed import must not change the state")
        let foreign = try TensorArchives.open(Fixtures.url("head_inputs.safetensors"))
        XCTAssertThrowsError(try head.initialiseFromSAM(archive: foreign, into: &state)) { error in
            XCTAssertEqual((error as? SAMImportError)?.misShaped, [])
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
            (AutoSAMHead.Key.iouToken, .normal(mean: 0, std: 1)), (AutoSAMHead.Key.maskTokens, .normal(mean: 0, std: 1)),
            (AutoSAMHead.Key.gaussianMatrix, .normal(mean: 0, std: 1)),
            (t + "norm1.weight", .constant(1)), (t + "norm4.bias", .constant(0)),
            ("mask_decoder.output_upscaling.1.weight", .constant(1)),
            (t + "self_attn.q_proj.weight", bound(d)), (t + "cross_attn_image_to_token.out_proj.weight", bound(di)),
            (t + "cross_attn_image_to_token.out_proj.bias", bound(di)), (t + "mlp.lin2.bias", bound(config.transformer.mlpDim)),
            ("mask_decoder.output_upscaling.0.weight", bound(d / 4 * 4)), ("mask_decoder.output_upscaling.3.bias", bound(d / 8 * 4)),
            ("mask_decoder.output_hypernetworks_mlps.1.layers.2.weight", bound(d)),
            ("mask_decoder.iou_prediction_head.layers.2.bias", bound(config.iouHeadHiddenDim)),
        ]
        for (name, rule) in expected { XCTAssertEqual(head.initialization(of: name), rule, name) }
        let (state, frozen) = head.initialState(seed: 9)
        let gaussian = frozen.tensor(AutoSAMHead.Key.gaussianMatrix).data
        XCTAssertEqual(gaussian, ParameterInit.normal(mean: 0, std: 1).values(count: gaussian.count,
                                                                             name: AutoSAMHead.Key.gaussianMatrix, seed: 9))
        XCTAssertNotEqual(head.initialState(seed: 10).frozen.values, frozen.values, "the seed must change the random buffers")
        XCTAssertEqual(state.parameter(t + "norm2.weight").data, [Float](repeating: 1, count: d))
    }

    // MARK: - Backward

    /// A tiny configuration: D = 16 (2 heads, cross-attention width 8), MLP 8.
    static func tinyHead(classes: Int, depth: Int = 2) -> AutoSAMHead {
        let transformer = TwoWayTransformerConfig(depth: depth, embeddingDim: 16, heads: 2, mlpDim: 8)
        return AutoSAMHead(config: AutoSAMHeadConfig(
            decoder: MaskDecoderConfig(transformer: transformer, numMultimaskOutputs: 1, iouHeadDepth: 3, iouHeadHiddenDim: 8),
            classes: classes))
    }

    /// eps 5e-4: with 2e-3 a hypernetwork weight of the first configuration steps over a ReLU
    /// kink 6e-4 away (one-sided differences 1.085 / 1.198) without tripping the kink test.
    var check: GradientCheck {
        var check = GradientCheck(eps: 5e-4, atol: 2e-3, rtol: 2e-2, skipKinks: true)
        check.maxChecksPerInput = 3
        return check
    }

    /// Every trainable tensor through the full head: odd non-square grids, one and two images.
    func testBackwardFiniteDifferences() {
        for (classes, batch, height, width, depth, seed) in [(3, 2, 2, 3, 2, 200), (2, 1, 3, 1, 1, 201)] {
            let head = Self.tinyHead(classes: classes, depth: depth)
            let x = randomTensor([batch, head.inputChannels, height, width], seed: UInt64(seed))
            let (state, frozen) = head.initialState(seed: UInt64(seed))
            var workspace = head.makeWorkspace()
            func split(_ flat: [Float]) -> [Tensor] { head.layout.names.map { head.layout.tensor($0, in: flat) } }
            check.verify(
                "AutoSAM K=\(classes) B=\(batch) \(height)x\(width) depth \(depth)", inputs: split(state.params),
                forward: { t in [head.forward(x, parameters: t.flatMap(\.data), frozen: frozen.values, workspace: &workspace)] },
                backward: { t, w in
                    let params = t.flatMap(\.data)
                    _ = head.forward(x, parameters: params, frozen: frozen.values, workspace: &workspace)
                    var grads = [Float](repeating: 0, count: params.count)
                    head.backward(w[0], parameters: params, frozen: frozen.values, gradients: &grads, workspace: &workspace)
                    return split(grads)
                })
        }
    }

    /// Head + bilinear resize to a rectangular label grid + CE/Dice, differentiated with respect
    /// to the tensors nearest the loss and the mask tokens (the head alone is checked above).
    func testLossChainWithResize() {
        let head = Self.tinyHead(classes: 3, depth: 1), labelSize = (7, 9)
        let x = randomTensor([2, head.inputChannels, 2, 2], seed: 210)
        let rng = CounterRNG(seed: 210, stream: 3)
        let labels = (0..<2 * 63).map { Int32(rng.uniformInt(UInt64($0), below: 3)) }
        let initial = head.initialState(seed: 210), frozen = initial.frozen
        var state = initial.trainable
        var step = HeadStep(head: head)
        let names = [AutoSAMHead.Key.maskTokens, AutoSAMHead.Key.upscaling + "3.weight",
                     AutoSAMHead.Key.hypernetwork(0) + "layers.2.weight"]
        func load(_ tensors: [Tensor]) {
            for (name, value) in zip(names, tensors) { state.setParameter(name, value) }
        }
        check.verify(
            "AutoSAM 8x8 -> 7x9 loss", inputs: names.map(state.parameter),
            forward: { t in
                load(t)
                let total = step.singleProcess(x, labels: labels, labelHeight: labelSize.0, labelWidth: labelSize.1,
                                               state: &state, frozen: frozen, backward: false).total
                return [Tensor(shape: [1], data: [Float(total)])]
            },
            backward: { t, w in
                load(t)
                _ = step.singleProcess(x, labels: labels, labelHeight: labelSize.0, labelWidth: labelSize.1,
                                       state: &state, frozen: frozen, backward: true)
                return names.map { Tensor(shape: state.gradient($0).shape, data: state.gradient($0).data.map { $0 * w[0].data[0] }) }
            })
    }

    /// A workspace re-sized for another batch gives what a fresh one gives.
    func testWorkspaceFollowsGeometry() {
        let head = Self.tinyHead(classes: 2)
        let (state, frozen) = head.initialState(seed: 5)
        let pair = randomTensor([2, 16, 3, 2], seed: 220)
        let single = Tensor(shape: [1, 16, 3, 2], data: Array(pair.data[96...]))
        var shared = head.makeWorkspace(), fresh = head.makeWorkspace()
        _ = head.forward(pair, state: state, frozen: frozen, workspace: &shared)
        let reused = head.forward(single, state: state, frozen: frozen, workspace: &shared)
        XCTAssertEqual(reused, head.forward(single, state: state, frozen: frozen, workspace: &fresh))
        XCTAssertEqual(reused.shape, [1, 2, 12, 8])
        XCTAssertEqual(shared.geometry, [1, 3, 2])
        XCTAssertEqual(shared.iouPredictions.shape, [1, 2])
    }

    // MARK: - Training

    /// One fixed batch of synthetic embeddings whose labels follow the embedding grid (a class per
    /// 4x4 block, as the 4x upscaling can express): Adam drives the loss close to zero.
    func testOverfitsOneBatch() {
        let head = Self.tinyHead(classes: 3), (batch, grid) = (2, 3)
        let x = randomTensor([batch, head.inputChannels, grid, grid], seed: 230)
        let size = 4 * grid
        let labels = (0..<batch * size * size).map { i -> Int32 in
            let (b, y, xx) = (i / (size * size), i / size % size, i % size)
            return Int32((b + y / 4 + 2 * (xx / 4)) % 3)
        }
        let initial = head.initialState(seed: 230, lr: 1e-2), frozen = initial.frozen
        var state = initial.trainable
        var step = HeadStep(head: head)
        var losses: [Double] = []
        for _ in 0..<100 {
            losses.append(step.singleProcessStep(x, labels: labels, labelHeight: size, labelWidth: size,
                                                 state: &state, frozen: frozen).total)
        }
        XCTAssertGreaterThan(losses[0], 0.5)
        XCTAssertLessThan(losses.last!, 0.01, "loss went \(losses[0]) -> \(losses.last!)")
    }

    func testCheckpointRoundTrip() throws {
        let head = Self.tinyHead(classes: 3)
        let initial = head.initialState(seed: 240), frozen = initial.frozen
        var state = initial.trainable
        var step = HeadStep(head: head)
        let x = randomTensor([1, 16, 2, 2], seed: 240), labels = [Int32](repeating: 1, count: 64)
        step.singleProcessStep(x, labels: labels, labelHeight: 8, labelWidth: 8, state: &state, frozen: frozen)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("autosam-head-\(UUID()).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try HeadCheckpoint.save(state, frozen: frozen, to: url, includeOptimizer: true)
        var (restored, restoredFrozen) = head.initialState(seed: 241)
        XCTAssertTrue(try HeadCheckpoint.load(from: url, into: &restored, frozen: &restoredFrozen).restoredOptimizer)
        XCTAssertEqual(restored.params, state.params)
        XCTAssertEqual(restoredFrozen, frozen)
        XCTAssertEqual(restored.adam, state.adam)
        let names = try SafeTensorsFile(contentsOf: url).names
        XCTAssertTrue(names.contains(AutoSAMHead.Key.gaussianMatrix) && names.contains(AutoSAMHead.Key.iouToken))
    }
}
