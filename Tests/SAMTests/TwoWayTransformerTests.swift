import TensorFiles
import Tensors
import TestSupport
import XCTest
@testable import SAM

/// Runs a transformer on tensors: inputs [tokens (B, N, D), image (B/rI, P, D), PE (B/rP, P, D),
/// one tensor per parameter in layout order], outputs [hs (B, N, D), src (B, P, D)].
struct TransformerHarness {
    let config: TwoWayTransformerConfig
    let shape: TwoWayTransformer.Shape
    let prefix: String
    let layout: ParameterLayout

    init(config: TwoWayTransformerConfig, shape: TwoWayTransformer.Shape, prefix: String) {
        (self.config, self.shape, self.prefix) = (config, shape, prefix)
        layout = ParameterLayout(config.parameterShapes(prefix: prefix))
    }

    /// Random inputs and parameters: LayerNorm weights around 1 so the check is well conditioned,
    /// and MLP pre-activations kept away from the ReLU kink (small lin1 weights, lin1 biases
    /// alternating +-1: half the hidden units active, half dead), so finite differences are exact.
    func randomInputs(seed: UInt64) -> [Tensor] {
        let d = config.embeddingDim, s = shape
        var xs = [randomTensor([s.batch, s.tokens, d], seed: seed, stream: 0),
                  randomTensor([s.batch / s.imageRepeats, s.imageTokens, d], seed: seed, stream: 1),
                  randomTensor([s.batch / s.peRepeats, s.imageTokens, d], seed: seed, stream: 2)]
        for (i, e) in layout.entries.enumerated() {
            var t = randomTensor(e.shape, seed: seed, stream: UInt64(10 + i), scale: 0.4)
            if e.name.contains("norm") && e.name.hasSuffix("weight") { t.data = t.data.map { 1 + $0 } }
            if e.name.hasSuffix("mlp.lin1.weight") { t.data = t.data.map { $0 / 4 } }
            if e.name.hasSuffix("mlp.lin1.bias") { t.data = t.data.indices.map { $0 % 2 == 0 ? 1 : -1 } }
            xs.append(t)
        }
        return xs
    }

    func forward(_ xs: [Tensor]) -> [Tensor] {
        run(xs, upstream: nil).outputs
    }

    /// Gradients of [tokens, image, PE, every parameter] for upstream [dHs, dSrc].
    func backward(_ xs: [Tensor], _ upstream: [Tensor]) -> [Tensor] {
        run(xs, upstream: upstream).gradients
    }

    private func run(_ xs: [Tensor], upstream: [Tensor]?) -> (outputs: [Tensor], gradients: [Tensor]) {
        let d = config.embeddingDim, s = shape, layout = self.layout, arena = TestArena()
        let params = arena.copy(Tensor(shape: [layout.totalCount], data: xs[3...].flatMap(\.data)))
        let grads = arena.zeros(layout.totalCount)
        let inputs = TwoWayTransformer.Inputs(tokens: arena.copy(xs[0]), image: arena.copy(xs[1]),
                                              imagePE: arena.copy(xs[2]))
        let activations = TwoWayTransformer.Activations(config: config, shape: s)
        let weights = TwoWayTransformer.Weights(layout: layout, prefix: prefix, config: config, base: params)
        TwoWayTransformer.forward(inputs: inputs, weights: weights, activations: activations)
        let outputs = [arena.tensor(activations.queries, [s.batch, s.tokens, d]),
                       arena.tensor(activations.keys, [s.batch, s.imageTokens, d])]
        guard let upstream else { return (outputs, []) }
        let dInputs = xs[0..<3].map { arena.zeros($0.count) }
        TwoWayTransformer.backward(
            gradients: .init(layout: layout, prefix: prefix, config: config, base: grads),
            inputGradients: .init(tokens: dInputs[0], image: dInputs[1], imagePE: dInputs[2]),
            dQueries: arena.copy(upstream[0]), dKeys: arena.copy(upstream[1]), inputs: inputs, weights: weights,
            activations: activations)
        let inputGrads = (0..<3).map { arena.tensor(dInputs[$0], xs[$0].shape) }
        return (outputs, inputGrads + layout.entries.map { arena.tensor(grads + $0.offset, $0.shape) })
    }
}

/// Stable raw buffers for tests, freed with the arena.
final class TestArena {
    private var buffers: [UnsafeMutablePointer<Float>] = []

    func zeros(_ count: Int) -> UnsafeMutablePointer<Float> {
        let p = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
        p.initialize(repeating: 0, count: max(count, 1))
        buffers.append(p)
        return p
    }

    func copy(_ t: Tensor) -> UnsafeMutablePointer<Float> {
        let p = zeros(t.count)
        t.withPointer { p.update(from: $0, count: t.count) }
        return p
    }

    func tensor(_ p: UnsafePointer<Float>, _ shape: [Int]) -> Tensor {
        Tensor(shape: shape, data: Array(UnsafeBufferPointer(start: p, count: shape.reduce(1, *))))
    }

    deinit { for p in buffers { p.deallocate() } }
}

final class TwoWayTransformerTests: XCTestCase {
    /// Tiny transformer: D = 8, 2 heads, depth 2, MLP 12, rate 2, 3 tokens, a 3 x 5 grid.
    let tiny = TwoWayTransformerConfig(depth: 2, embeddingDim: 8, heads: 2, mlpDim: 12, downsampleRate: 2)

    func testBackwardMatchesFiniteDifferencesWithSharedImages() {
        // 4 rows, an image per 2 rows, one PE for all: layer 0 attends once per image (g = 2).
        let h = TransformerHarness(config: tiny,
                                   shape: .init(batch: 4, tokens: 3, imageTokens: 15, imageRepeats: 2, peRepeats: 4),
                                   prefix: "transformer.")
        var check = GradientCheck(eps: 1e-2, atol: 2e-3, rtol: 2e-2)
        check.maxChecksPerInput = 20   // a sample of every parameter tensor and input keeps this under 2 s
        check.verify("transformer shared", inputs: h.randomInputs(seed: 11), forward: h.forward, backward: h.backward)
    }

    func testBackwardMatchesFiniteDifferencesPerRowAndMixedSharing() {
        // Image per 2 rows but PE per row (g = 1), one layer, single head, odd sizes.
        let config = TwoWayTransformerConfig(depth: 1, embeddingDim: 4, heads: 1, mlpDim: 5, downsampleRate: 2)
        let h = TransformerHarness(config: config,
                                   shape: .init(batch: 2, tokens: 1, imageTokens: 7, imageRepeats: 2, peRepeats: 1),
                                   prefix: "mask_decoder.transformer.")
        GradientCheck(eps: 1e-2, atol: 2e-3, rtol: 2e-2)
            .verify("transformer mixed", inputs: h.randomInputs(seed: 5), forward: h.forward, backward: h.backward)
    }

    /// Sharing an image between rows gives the same outputs as copying it, and its gradient is
    /// the sum of the copies' gradients.
    func testSharedImageEqualsReplicatedImage() {
        let shared = TransformerHarness(config: tiny, shape: .init(batch: 6, tokens: 2, imageTokens: 9,
                                                                   imageRepeats: 3, peRepeats: 6),
                                        prefix: "transformer.")
        let copied = TransformerHarness(config: tiny, shape: .init(batch: 6, tokens: 2, imageTokens: 9),
                                        prefix: "transformer.")
        let xs = shared.randomInputs(seed: 3)
        let (image, pe) = (xs[1].data, xs[2].data)
        var ys = xs
        ys[1] = Tensor(shape: [6, 9, 8], data: (0..<6).flatMap { image[($0 / 3) * 72 ..< ($0 / 3 + 1) * 72] })
        ys[2] = Tensor(shape: [6, 9, 8], data: (0..<6).flatMap { _ in pe })
        let a = shared.forward(xs), b = copied.forward(ys)
        for i in 0..<2 { assertClose(a[i], b[i], atol: 1e-5, "output \(i)") }
        let upstream = [randomTensor(a[0].shape, seed: 8), randomTensor(a[1].shape, seed: 9)]
        let ga = shared.backward(xs, upstream), gb = copied.backward(ys, upstream)
        var imageSum = [Float](repeating: 0, count: 2 * 72), peSum = [Float](repeating: 0, count: 72)
        for row in 0..<6 {
            for j in 0..<72 {
                imageSum[(row / 3) * 72 + j] += gb[1].data[row * 72 + j]
                peSum[j] += gb[2].data[row * 72 + j]
            }
        }
        assertClose(ga[1].data, imageSum, atol: 1e-4, "image gradient")
        assertClose(ga[2].data, peSum, atol: 1e-4, "PE gradient")
        for i in [0] + Array(3..<ga.count) { assertClose(ga[i], gb[i], atol: 1e-4, "gradient \(i)") }
    }

    /// The AutoSAM decoder's transformer (per-class tokens, each image shared by its K rows, one
    /// PE for all) reproduces the debug intermediates of `autosam_head.safetensors`.
    func testAutoSAMTransformerMatchesFixture() throws {
        let head = try Fixtures.file("autosam_head"), inputs = try Fixtures.file("head_inputs")
        let heads = try XCTUnwrap(Fixtures.config["dec_num_heads"] as? Int)
        let checkpoint = try TensorArchives.open(Fixtures.url("tiny_sam.pth"))
        let prefix = "mask_decoder.transformer."
        let config = try TwoWayTransformerConfig.inferred(from: checkpoint, prefix: prefix, heads: heads)
        let tokens = try head.tensor("tokens"), pe = try head.tensor("image_pe")
        let images = try inputs.tensor("image_embeddings")
        let (rows, d, p) = (tokens.shape[0], images.shape[1], images.shape[2] * images.shape[3])
        XCTAssertEqual(config.embeddingDim, d)
        let h = TransformerHarness(config: config, shape: .init(batch: rows, tokens: tokens.shape[1], imageTokens: p,
                                                                imageRepeats: rows / images.shape[0], peRepeats: rows),
                                   prefix: prefix)
        var xs = [tokens, Self.tokens(images), Self.tokens(pe)]
        for e in h.layout.entries { xs.append(try head.tensor("params/" + e.name)) }
        let out = h.forward(xs)
        for (i, name) in ["transformer_hs", "transformer_src"].enumerated() {
            assertClose(out[i], try head.tensor(name), atol: Fixtures.suggestedAtol("autosam_head", name), rtol: 1e-4,
                        name)
        }
    }

    func testInferredConfigAndParameterNamesMatchCheckpoint() throws {
        let checkpoint = try TensorArchives.open(Fixtures.url("tiny_sam.pth")), c = Fixtures.config
        let heads = try XCTUnwrap(c["dec_num_heads"] as? Int)
        let config = try TwoWayTransformerConfig.inferred(from: checkpoint, prefix: "mask_decoder.transformer.",
                                                          heads: heads)
        XCTAssertEqual(config.depth, c["dec_depth"] as? Int)
        XCTAssertEqual(config.mlpDim, c["dec_mlp_dim"] as? Int)
        XCTAssertEqual(config.downsampleRate, c["attention_downsample_rate"] as? Int)
        XCTAssertEqual(config.embeddingDim, c["out_chans"] as? Int)
        let expected = checkpoint.names.filter { $0.hasPrefix("mask_decoder.transformer.") }
        let ours = config.parameterShapes(prefix: "mask_decoder.transformer.")
        XCTAssertEqual(ours.map(\.name), expected)
        for (name, shape) in ours { XCTAssertEqual(try checkpoint.info(name).shape, shape, name) }
    }

    /// The tiled transposes against `Tensor.permuted` on sizes that straddle the tile.
    func testTokenTransposesMatchPermute() {
        for (b, c, p) in [(1, 1, 1), (2, 3, 37), (1, 33, 65)] {
            let x = randomTensor([b, c, p], seed: UInt64(c))
            let expected = x.permuted([0, 2, 1])
            var y = Tensor(zeros: [b, p, c]), back = Tensor(zeros: [b, c, p])
            y.withMutablePointer { yp in
                x.withPointer { TwoWayTransformer.channelsToTokens(y: yp, x: $0, batch: b, channels: c, pixels: p) }
            }
            XCTAssertEqual(y.data, expected.data, "channelsToTokens \(b)x\(c)x\(p)")
            back.withMutablePointer { bp in
                y.withPointer { TwoWayTransformer.tokensToChannels(y: bp, x: $0, batch: b, channels: c, pixels: p) }
            }
            XCTAssertEqual(back.data, x.data, "tokensToChannels \(b)x\(c)x\(p)")
        }
    }

    /// (B, C, h, w) -> (B, P, C) tokens.
    static func tokens(_ nchw: Tensor) -> Tensor {
        let (b, c, p) = (nchw.shape[0], nchw.shape[1], nchw.shape[2] * nchw.shape[3])
        return nchw.reshaped([b, c, p]).permuted([0, 2, 1])
    }
}
