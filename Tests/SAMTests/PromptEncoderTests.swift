import TensorFiles
import Foundation
import Layers
import Tensors
import TestSupport
import XCTest
@testable import SAM

final class PromptEncoderTests: XCTestCase {
    static func encoder() throws -> PromptEncoder {
        try PromptEncoder(loading: try TensorArchives.open(Fixtures.url("tiny_sam.pth")))
    }

    func testConfigInferredFromCheckpoint() throws {
        let checkpoint = try TensorArchives.open(Fixtures.url("tiny_sam.pth"))
        let config = try PromptEncoderConfig.inferred(from: checkpoint), c = Fixtures.config
        let imageSize = try XCTUnwrap(c["img_size"] as? Int), patch = try XCTUnwrap(c["patch_size"] as? Int)
        let expected = PromptEncoderConfig(embedDim: try XCTUnwrap(c["out_chans"] as? Int),
                                           embeddingHeight: imageSize / patch, embeddingWidth: imageSize / patch,
                                           inputHeight: imageSize, inputWidth: imageSize,
                                           maskInChans: try XCTUnwrap(c["mask_in_chans"] as? Int))
        XCTAssertEqual(config, expected)
        let ours = config.parameterShapes()
        XCTAssertEqual(ours.map(\.name), checkpoint.names.filter { $0.hasPrefix("prompt_encoder.") })
        for (name, shape) in ours { XCTAssertEqual(try checkpoint.info(name).shape, shape, name) }
    }

    func testBoxEmbeddingsAndDensePEMatchFixture() throws {
        let encoder = try Self.encoder(), f = try Fixtures.file("sam_box_prompt")
        let (sparse, dense) = encoder.embed(points: nil, boxes: try f.tensor("box_xyxy_input_frame"), masks: nil)
        for (name, actual) in [("sparse_embeddings", sparse), ("dense_embeddings", dense),
                               ("dense_pe", encoder.densePositionalEncoding())] {
            assertClose(actual, try f.tensor(name), atol: Fixtures.suggestedAtol("sam_box_prompt", name), rtol: 1e-4,
                        name)
        }
    }

    /// Points against the formula in double precision: label 1 / 0 add point_embeddings[1] / [0]
    /// to the PE of (p + 0.5); label -1 and the padding point are exactly not_a_point_embed.
    func testPointEmbeddingsFollowTheFormula() throws {
        let encoder = try Self.encoder(), c = encoder.config, d = c.embedDim
        let xy: [Float] = [3, 150, 80.25, 0, 159, 41, 7.5, 99]
        let labels = [1, 0, -1, 1]
        let points = PointPrompts(coordinates: Tensor(shape: [2, 2, 2], data: xy), labels: labels)
        let sparse = encoder.embed(points: points, boxes: nil, masks: nil).sparse
        XCTAssertEqual(sparse.shape, [2, 3, d])
        let g = encoder.positionEmbedding.gaussian.data, f = d / 2
        let rows = ["-1": encoder.embedding("not_a_point_embed.weight"),
                    "0": encoder.embedding("point_embeddings.0.weight"),
                    "1": encoder.embedding("point_embeddings.1.weight")]
        for b in 0..<2 {
            for k in 0..<3 {
                let label = k < 2 ? labels[b * 2 + k] : -1
                let token = Array(sparse.data[(b * 3 + k) * d ..< (b * 3 + k + 1) * d])
                var expected = rows["\(label)"]!
                if label != -1 {
                    let x = 2 * (Double(xy[(b * 2 + k) * 2]) + 0.5) / Double(c.inputWidth) - 1
                    let y = 2 * (Double(xy[(b * 2 + k) * 2 + 1]) + 0.5) / Double(c.inputHeight) - 1
                    for j in 0..<f {
                        let t = 2 * Double.pi * (x * Double(g[j]) + y * Double(g[f + j]))
                        expected[j] += Float(sin(t))
                        expected[f + j] += Float(cos(t))
                    }
                }
                assertClose(token, expected, atol: 2e-5, rtol: 1e-4, "prompt \(b) token \(k) label \(label)")
            }
        }
        // With a box there is no padding point: points first, then the two corners.
        let box = Tensor(shape: [2, 4], data: [10, 20, 90, 100, 0, 0, 159, 159])
        let both = encoder.embed(points: points, boxes: box, masks: nil).sparse
        let boxOnly = encoder.embed(points: nil, boxes: box, masks: nil).sparse
        XCTAssertEqual(both.shape, [2, 4, d])
        for b in 0..<2 {
            XCTAssertEqual(Array(both.data[(b * 4) * d ..< (b * 4 + 2) * d]),
                           Array(sparse.data[(b * 3) * d ..< (b * 3 + 2) * d]))
            XCTAssertEqual(Array(both.data[(b * 4 + 2) * d ..< (b * 4 + 4) * d]),
                           Array(boxOnly.data[b * 2 * d ..< (b + 1) * 2 * d]))
        }
    }

    /// The mask input path against the naive twins (direct convolution, double LayerNorm, erfc GELU).
    func testMaskInputMatchesNaiveComposition() throws {
        let encoder = try Self.encoder(), c = encoder.config
        let masks = randomTensor([2, 1, c.maskInputHeight, c.maskInputWidth], seed: 17, scale: 3)
        let dense = encoder.embedMasks(masks)
        XCTAssertEqual(dense.shape, [2, c.embedDim, c.embeddingHeight, c.embeddingWidth])
        var x = masks
        for (conv, norm, out) in [("0", "1", c.maskInChans / 4), ("3", "4", c.maskInChans)] {
            x = naiveConvolution(encoder, x, conv, outChannels: out, kernel: 2)
            x = naiveLayerNorm2d(encoder, x, norm)
            x.data = x.data.map { Float(NaiveElementwise.gelu($0)) }
        }
        assertClose(dense, naiveConvolution(encoder, x, "6", outChannels: c.embedDim, kernel: 1), atol: 2e-5,
                    rtol: 1e-4, "mask embedding")
        XCTAssertEqual(encoder.embed(points: nil, boxes: nil, masks: masks).dense, dense)
    }

    func testNoPromptsGiveEmptySparseAndNoMaskDense() throws {
        let encoder = try Self.encoder(), c = encoder.config
        let (sparse, dense) = encoder.embed(points: nil, boxes: nil, masks: nil)
        XCTAssertEqual(sparse.shape, [1, 0, c.embedDim])
        let noMask = encoder.embedding("no_mask_embed.weight"), pixels = c.embeddingHeight * c.embeddingWidth
        XCTAssertEqual(dense.data, noMask.flatMap { Array(repeating: $0, count: pixels) })
    }

    func testSeededPositionMatrixIsReproducible() {
        let a = PositionEmbeddingRandom(features: 16, rng: CounterRNG(seed: 4))
        XCTAssertEqual(a.gaussian.shape, [2, 16])
        XCTAssertEqual(a.gaussian, PositionEmbeddingRandom(features: 16, rng: CounterRNG(seed: 4)).gaussian)
        XCTAssertNotEqual(a.gaussian, PositionEmbeddingRandom(features: 16, rng: CounterRNG(seed: 5)).gaussian)
    }

    // MARK: get_box (AutoSAM zero-shot baseline)

    func testGetBoxMatchesFixture() throws {
        let f = try Fixtures.file("get_box")
        let label = try f.integers("label"), shape = try f.info("label").shape, boxes = try f.integers("boxes")
        for k in 0..<(boxes.count / 4) {
            let box = try BoxPrompt.box(label: label, height: shape[0], width: shape[1], classValue: k + 1)
            XCTAssertEqual(box, Array(boxes[4 * k ..< 4 * k + 4]), "class \(k + 1)")
        }
    }

    /// Objects touching the top (rows 0-1) and the bottom border (rows 3-5): the top scan finds
    /// the lower object (row 3) and the bottom scan the upper one (row 1), so the reference's
    /// assertion fires.
    func testGetBoxRejectsAnInvertedScan() {
        var label = [Int](repeating: 0, count: 6 * 4)
        for i in [0, 1, 3, 4, 5] { for j in 1..<3 { label[i * 4 + j] = 2 } }
        XCTAssertThrowsError(try BoxPrompt.box(label: label, height: 6, width: 4, classValue: 2)) { error in
            XCTAssertEqual(error as? BoxPromptError, BoxPromptError(classValue: 2, box: [0, 2, 3, 2]))
        }
    }

    // MARK: Naive helpers

    private func naiveConvolution(_ e: PromptEncoder, _ x: Tensor, _ name: String, outChannels: Int,
                                  kernel: Int) -> Tensor {
        let shape = Conv2d.Shape(batch: x.shape[0], inChannels: x.shape[1], outChannels: outChannels,
                                 height: x.shape[2], width: x.shape[3], kernel: kernel, stride: kernel)
        var y = Tensor(zeros: [shape.batch, outChannels, shape.outHeight, shape.outWidth])
        let w = e.layout.tensor("prompt_encoder.mask_downscaling.\(name).weight", in: e.values)
        let b = e.layout.tensor("prompt_encoder.mask_downscaling.\(name).bias", in: e.values)
        y.withMutablePointer { yp in
            x.withPointer { xp in
                w.withPointer { wp in
                    b.withPointer { NaiveConv2d.forward(y: yp, x: xp, weight: wp, bias: $0, shape: shape) }
                }
            }
        }
        return y
    }

    /// LayerNorm over channels at every pixel: (B, C, P) -> (B, P, C), row LayerNorm, back.
    private func naiveLayerNorm2d(_ e: PromptEncoder, _ x: Tensor, _ name: String) -> Tensor {
        let (b, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let rows = x.reshaped([b, c, h * w]).permuted([0, 2, 1])
        let weight = e.layout.tensor("prompt_encoder.mask_downscaling.\(name).weight", in: e.values).data
        let bias = e.layout.tensor("prompt_encoder.mask_downscaling.\(name).bias", in: e.values).data
        let y = NaiveElementwise.layerNorm(rows.data, weight: weight, bias: bias, rows: b * h * w, features: c,
                                           eps: 1e-6)
        return Tensor(shape: [b, h * w, c], data: y).permuted([0, 2, 1]).reshaped([b, c, h, w])
    }
}
