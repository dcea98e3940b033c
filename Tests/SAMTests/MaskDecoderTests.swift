import TensorFiles
import Foundation
import Tensors
import TestSupport
import XCTest
@testable import SAM

final class MaskDecoderTests: XCTestCase {
    static func models() throws -> (PromptEncoder, MaskDecoder) {
        let checkpoint = try TensorArchives.open(Fixtures.url("tiny_sam.pth"))
        let heads = try XCTUnwrap(Fixtures.config["dec_num_heads"] as? Int)
        return (try PromptEncoder(loading: checkpoint), try MaskDecoder(loading: checkpoint, heads: heads))
    }

    func testConfigInferredAndEveryKeyLoaded() throws {
        let (_, decoder) = try Self.models()
        let c = Fixtures.config, config = decoder.config
        XCTAssertEqual(config.numMultimaskOutputs, c["sam_num_multimask_outputs"] as? Int)
        XCTAssertEqual(config.iouHeadDepth, c["iou_head_depth"] as? Int)
        XCTAssertEqual(config.iouHeadHiddenDim, c["iou_head_hidden_dim"] as? Int)
        XCTAssertEqual(config.transformerDim, c["out_chans"] as? Int)
        let keys = try TensorArchives.open(Fixtures.url("tiny_sam.safetensors")).names.filter {
            $0.hasPrefix("mask_decoder.")
        }
        XCTAssertEqual(Set(decoder.loadReport.loaded), Set(keys))
        XCTAssertTrue(decoder.loadReport.isComplete, decoder.loadReport.description)
    }

    /// Box prompt -> prompt encoder -> decoder, single and multimask, against the fixture.
    func testLowResMasksAndIoUMatchFixture() throws {
        let (encoder, decoder) = try Self.models()
        let f = try Fixtures.file("sam_box_prompt")
        let (sparse, dense) = encoder.embed(points: nil, boxes: try f.tensor("box_xyxy_input_frame"), masks: nil)
        for (multimask, suffix) in [(false, ""), (true, "_multimask")] {
            let out = decoder.predict(imageEmbedding: try f.tensor("image_embeddings"),
                                      imagePE: encoder.densePositionalEncoding(),
                                      sparsePrompts: sparse, densePrompts: dense, multimaskOutput: multimask)
            for (name, actual) in [("low_res_masks", out.masks), ("iou_predictions", out.iouPredictions)] {
                assertClose(actual, try f.tensor(name + suffix),
                            atol: Fixtures.suggestedAtol("sam_box_prompt", name + suffix),
                            rtol: 1e-4, name + suffix)
            }
        }
    }

    /// The whole baseline from the box in original-image pixels to masks at the original size.
    func testOriginalSizeMasksFromOriginalBox() throws {
        let (encoder, decoder) = try Self.models()
        let f = try Fixtures.file("sam_box_prompt"), pre = try Fixtures.file("preprocess")
        let original = try pre.integers("original_size"), input = try pre.integers("input_size")
        let imageSize = encoder.config.inputHeight
        let box = Postprocess.applyBoxes(try f.tensor("box_xyxy_original").data,
                                         originalSize: (original[0], original[1]),
                                         longestSide: imageSize)
        assertClose(box, try f.tensor("box_xyxy_input_frame").data, atol: 1e-5, rtol: 1e-6, "apply_boxes")
        let (sparse, dense) = encoder.embed(points: nil, boxes: Tensor(shape: [1, 4], data: box), masks: nil)
        let lowRes = decoder.predict(imageEmbedding: try f.tensor("image_embeddings"),
                                     imagePE: encoder.densePositionalEncoding(),
                                     sparsePrompts: sparse, densePrompts: dense, multimaskOutput: false).masks
        let logits = Postprocess.masks(lowRes, imageSize: imageSize, inputSize: (input[0], input[1]),
                                       originalSize: (original[0], original[1]))
        let expected = try f.tensor("masks_original_size_logits")
        let atol = Fixtures.suggestedAtol("sam_box_prompt", "masks_original_size_logits")
        assertClose(logits, expected, atol: atol, rtol: 1e-4, "masks_original_size_logits")
        // Binary masks agree wherever the reference logit is not within tolerance of the threshold.
        let binary = Postprocess.binarize(logits), expectedBinary = try f.integers("masks_original_size_binary")
        XCTAssertEqual(binary.count, expectedBinary.count)
        let disagreements = zip(zip(binary, expectedBinary), expected.data).filter { pair, ref in
            Int(pair.0) != pair.1 && abs(ref) > 2 * atol
        }
        XCTAssertEqual(disagreements.count, 0)
        XCTAssertGreaterThan(binary.filter { $0 == 1 }.count, 0, "the box should select something")
    }

    /// A damaged checkpoint: one key missing, one extra, one with the wrong shape.
    func testLoadReportListsMissingUnusedAndMisShapedKeys() throws {
        let source = try TensorArchives.open(Fixtures.url("tiny_sam.safetensors"))
        let (missing, reshaped) = ("mask_decoder.iou_token.weight", "mask_decoder.output_upscaling.1.weight")
        // Expected shapes are the fixture's; the damaged tensor gets one more element.
        let missingShape = try source.info(missing).shape, expectedShape = try source.info(reshaped).shape
        let wrongShape = [expectedShape.reduce(1, *) + 1]
        var tensors: [(String, Tensor)] = []
        for name in source.names where name.hasPrefix("mask_decoder.") && name != missing {
            tensors.append((name, name == reshaped ? Tensor(zeros: wrongShape) : try source.tensor(name)))
        }
        tensors.append(("mask_decoder.extra.bias", Tensor(zeros: [3])))
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("damaged_decoder_\(getpid()).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try SafeTensorsFile.write(tensors, to: url)
        let heads = try XCTUnwrap(Fixtures.config["dec_num_heads"] as? Int)
        XCTAssertThrowsError(try MaskDecoder(loading: try TensorArchives.open(url), heads: heads)) { error in
            guard let e = error as? LoadError else { return XCTFail("unexpected error \(error)") }
            XCTAssertEqual(e.report.missing, [.init(name: missing, shape: missingShape)])
            XCTAssertEqual(e.report.unused, [.init(name: "mask_decoder.extra.bias", shape: [3])])
            XCTAssertEqual(e.report.misshaped, [.init(name: reshaped, expected: expectedShape, found: wrongShape)])
            XCTAssertTrue(e.description.contains("expected \(expectedShape), found \(wrongShape)"), e.description)
        }
    }

    func testNonSAMFileIsRejectedWithItsName() throws {
        let archive = try TensorArchives.open(Fixtures.url("dice_loss_unit.safetensors"))
        XCTAssertThrowsError(try MaskDecoder(loading: archive)) { error in
            XCTAssertTrue("\(error)".contains("not a SAM mask decoder"), "\(error)")
        }
    }

    // MARK: Backward of the pieces the AutoSAM head trains

    func testUpscalingBackwardMatchesFiniteDifferences() {
        for (b, d, h, w) in [(2, 16, 3, 5), (1, 8, 1, 2)] {
            let shape = MaskDecoder.Upscaling.Shape(batch: b, channels: d, height: h, width: w)
            let layout = ParameterLayout(shape.parameterShapes.map { ("up." + $0.name, $0.shape) })
            func run(_ xs: [Tensor], _ dy: Tensor?) -> [Tensor] {
                let arena = TestArena(), x = arena.copy(xs[0])
                let params = arena.copy(Tensor(shape: [layout.totalCount], data: xs[1...].flatMap(\.data)))
                let weights = MaskDecoder.Upscaling.Weights(layout: layout, prefix: "up.", base: params)
                let activations = MaskDecoder.Upscaling.Activations(shape: shape), y = arena.zeros(shape.outputCount)
                MaskDecoder.Upscaling.forward(y: y, x: x, weights: weights, activations: activations)
                guard let dy else { return [arena.tensor(y, [b, d / 8, 4 * h, 4 * w])] }
                let dx = arena.zeros(xs[0].count), grads = arena.zeros(layout.totalCount)
                MaskDecoder.Upscaling.backward(dx: dx, gradients: .init(layout: layout, prefix: "up.", base: grads),
                                               dy: arena.copy(dy),
                                               x: x, weights: weights, activations: activations)
                return [arena.tensor(dx, xs[0].shape)] + layout.entries.map {
                    arena.tensor(grads + $0.offset, $0.shape)
                }
            }
            let inputs = [randomTensor([b, d, h, w], seed: 1)] + layout.entries.enumerated().map { i, e in
                randomTensor(e.shape, seed: 2, stream: UInt64(i), scale: 0.5)
            }
            GradientCheck(eps: 1e-2, atol: 1e-3, rtol: 1e-2)
                .verify("upscaling \(b)x\(d)x\(h)x\(w)", inputs: inputs, forward: { run($0, nil) },
                        backward: { run($0, $1[0]) })
        }
    }

    func testMLPBlockBackwardMatchesFiniteDifferences() {
        for (rows, i, hidden, o, layers) in [(1, 3, 5, 2, 3), (4, 5, 3, 4, 2), (3, 2, 6, 3, 1)] {
            let shape = MLPBlock.Shape(rows: rows, inputDim: i, hiddenDim: hidden, outputDim: o, layers: layers)
            func run(_ xs: [Tensor], _ dy: Tensor?) -> [Tensor] {
                let arena = TestArena(), x = arena.copy(xs[0]), params = xs[1...].map(arena.copy)
                let weights = (0..<layers).map { WeightAndBias(weight: params[2 * $0], bias: params[2 * $0 + 1]) }
                let hiddenBuffer = arena.zeros(shape.hiddenCount), y = arena.zeros(rows * o)
                MLPBlock.forward(y: y, hidden: hiddenBuffer, x: x, weights: weights, shape: shape)
                guard let dy else { return [arena.tensor(y, [rows, o])] }
                let dx = arena.zeros(rows * i), grads = xs[1...].map { arena.zeros($0.count) }
                let gradients = (0..<layers).map { WeightAndBias(weight: grads[2 * $0], bias: grads[2 * $0 + 1]) }
                MLPBlock.backward(dx: dx, gradients: gradients, dy: arena.copy(dy), x: x, hidden: hiddenBuffer,
                                  weights: weights, shape: shape)
                return [arena.tensor(dx, [rows, i])] + zip(grads, xs[1...]).map { arena.tensor($0, $1.shape) }
            }
            // Small weights and biases of +-1 keep every pre-activation away from the ReLU kink.
            var inputs = [randomTensor([rows, i], seed: 3)]
            for l in 0..<layers {
                let s = shape.parameterShapes(ofLayer: l)
                inputs.append(randomTensor(s.weight, seed: 4, stream: UInt64(l), scale: 0.2))
                inputs.append(Tensor(shape: s.bias, data: (0..<s.bias[0]).map { $0 % 2 == 0 ? 1 : -1 }))
            }
            GradientCheck(eps: 1e-2, atol: 1e-3, rtol: 1e-2)
                .verify("MLP \(rows)x\(i)x\(hidden)x\(o) L\(layers)", inputs: inputs, forward: { run($0, nil) },
                        backward: { run($0, $1[0]) })
        }
    }

    func testMaskProductBackwardMatchesFiniteDifferences() {
        for (b, m, c, q) in [(2, 3, 5, 7), (1, 1, 1, 3)] {
            func run(_ xs: [Tensor], _ dy: Tensor?) -> [Tensor] {
                let arena = TestArena(), hyper = arena.copy(xs[0]), upscaled = arena.copy(xs[1])
                let masks = arena.zeros(b * m * q)
                MaskDecoder.MaskProduct.forward(masks: masks, hyper: hyper, upscaled: upscaled, batch: b, masks: m,
                                                channels: c, pixels: q)
                guard let dy else { return [arena.tensor(masks, [b, m, q])] }
                let dh = arena.zeros(xs[0].count), du = arena.zeros(xs[1].count)
                MaskDecoder.MaskProduct.backward(dHyper: dh, dUpscaled: du, dMasks: arena.copy(dy), hyper: hyper,
                                                 upscaled: upscaled,
                                                 batch: b, masks: m, channels: c, pixels: q)
                return [arena.tensor(dh, xs[0].shape), arena.tensor(du, xs[1].shape)]
            }
            GradientCheck().verify("mask product \(b)x\(m)x\(c)x\(q)",
                                   inputs: [randomTensor([b, m, c], seed: 5), randomTensor([b, c, q], seed: 6)],
                                   forward: { run($0, nil) }, backward: { run($0, $1[0]) })
        }
    }
}
