import Collectives
import Datasets
import Foundation
import Metrics
import SAM
import Tensors
import TestSupport
import XCTest
@testable import Baselines
@testable import Config
@testable import Embeddings
@testable import Evaluation
@testable import Experiments
@testable import Runs
@testable import Training

/// The zero-shot SAM box baseline: the reference's mask merge rule on hand-made masks, and both
/// input paths end to end on the tiny fixture SAM and phantom data.
final class BoxBaselineTests: XCTestCase {
    static let dataRoot = TinyRun.phantomData(patients: 4, seed: 5)

    /// mask[k] = m_k, mask[0] = -sum m_k -> 1 where 0, 0 where negative; argmax, ties lowest.
    func testMergeFollowsReferenceRule() {
        // 6 pixels, K = 4: class 2 has no prompt (nil).
        let m1: [UInt8] = [0, 1, 1, 0, 0, 1]
        let m3: [UInt8] = [0, 0, 1, 1, 0, 1]
        XCTAssertEqual(BoxBaseline.merge([nil, m1, nil, m3], pixels: 6), [0, 1, 1, 3, 0, 1])
        // Overlap of classes 2 and 3 goes to 2; with all three, to 1; no mask anywhere is background.
        let a: [UInt8] = [1, 0, 0, 1], b: [UInt8] = [1, 1, 0, 1], c: [UInt8] = [0, 1, 0, 1]
        XCTAssertEqual(BoxBaseline.merge([nil, nil, b, c], pixels: 4), [2, 2, 0, 2])
        XCTAssertEqual(BoxBaseline.merge([nil, a, b, c], pixels: 4), [1, 2, 0, 1])
        XCTAssertEqual(BoxBaseline.merge([nil, nil, nil, nil], pixels: 3), [0, 0, 0])
    }

    /// The merge agrees with a literal transcription of the reference's tensor arithmetic.
    func testMergeMatchesLiteralReferenceArithmetic() {
        let k = 4, pixels = 50
        var masks = [[UInt8]?](repeating: nil, count: k)
        for c in [1, 3] {   // class 2 got no prompt
            masks[c] = (0..<pixels).map { UInt8($0 % (c == 1 ? 3 : 2) == 0 ? 1 : 0) }
        }
        var literal = [UInt8](repeating: 0, count: pixels)
        for i in 0..<pixels {
            var stack = [Int](repeating: 0, count: k)
            for c in 1..<k { if let m = masks[c] { stack[c] = Int(m[i]); stack[0] -= Int(m[i]) } }
            stack[0] = stack[0] == 0 ? 1 : (stack[0] < 0 ? 0 : stack[0])
            literal[i] = UInt8(stack.firstIndex(of: stack.max()!)!)
        }
        XCTAssertEqual(BoxBaseline.merge(masks, pixels: pixels), literal)
        XCTAssertTrue(literal.contains(1) && literal.contains(3) && literal.contains(0),
                      "the case should exercise every outcome")
    }

    func config() -> ExperimentConfig {
        var c = ExperimentConfig()
        c.name = "box-baseline-test"
        c.data.root = Self.dataRoot.path
        c.encoder.checkpoint = Fixtures.url("tiny_sam.pth").path
        c.output.dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("autosam-box-\(UUID().uuidString)").path
        return c
    }

    /// Both input paths run on the fixture SAM: label maps of the volume's shape with values in
    /// 0..<K and a score per class per volume.
    func testBothInputPathsEndToEndOnTinySAM() throws {
        let c = config()
        defer { try? FileManager.default.removeItem(atPath: c.output.dir) }
        let heads = try XCTUnwrap(Fixtures.config["dec_num_heads"] as? Int)
        let data = try Experiment(config: c, world: SingleProcessCommunicator(),
                                  encoderFactory: { try SliceEncoders.make($0) }).prepareData()
        XCTAssertFalse(data.test.volumes.isEmpty)
        var outputs: [[UInt8]] = []
        for path in BoxInputPath.allCases {
            let baseline = try BoxBaseline(config: c, inputPath: path, decoderHeads: heads)
            let result = try baseline.run(data.test, classes: 4, maxVolumes: 1)
            XCTAssertEqual(result.predictions.count, 1)
            let volume = data.test.volumes[0], prediction = result.predictions[0]
            XCTAssertEqual(prediction.count, volume.depth * volume.height * volume.width, path.rawValue)
            XCTAssertTrue(prediction.allSatisfy { $0 < 4 }, path.rawValue)
            XCTAssertEqual(result.scores.map(\.name), [volume.name])
            XCTAssertEqual(result.scores[0].classes.count, 3)
            XCTAssertEqual(result.summary.samples, 1)
            XCTAssertNotNil(result.scores[0].average(.dice), path.rawValue)
            outputs.append(prediction)
        }
        XCTAssertNotEqual(outputs[0], outputs[1], "the two input paths feed different images")
    }

    /// The reference path feeds [0, 1] values through SAM's 0-255 normalisation (an almost
    /// constant image near -2, quirk 14); the corrected path is `Preprocessing.sam` of the 0-255 slice.
    func testInputPaths() throws {
        let (h, w) = (30, 45)
        let slice = ArraySlice((0..<(h * w)).map { Float(($0 * 37) % 101) / 7 - 3 })
        let url = Fixtures.url("tiny_sam.pth")
        let heads = try XCTUnwrap(Fixtures.config["dec_num_heads"] as? Int)
        let reference = try BoxBaseline(checkpoint: url, inputPath: .reference, decoderHeads: heads)
        let s = reference.imageEncoder.config.imageSize
        let (x, inputSize) = reference.encoderInput(slice, height: h, width: w)
        XCTAssertEqual(x.shape, [1, 3, s, s])
        XCTAssertTrue(inputSize == (s, s))
        for c in 0..<3 {
            let plane = x.data[(c * s * s)..<((c + 1) * s * s)]
            let low = (0 - Preprocessing.pixelMean[c]) / Preprocessing.pixelStd[c]
            let high = (1 - Preprocessing.pixelMean[c]) / Preprocessing.pixelStd[c]
            XCTAssertGreaterThanOrEqual(plane.min()!, low - 1e-5)
            XCTAssertLessThanOrEqual(plane.max()!, high + 1e-5)
            XCTAssertGreaterThan(plane.max()! - plane.min()!, 0.9 * (high - low), "the [0,1] range is used")
        }
        let corrected = try BoxBaseline(checkpoint: url, inputPath: .corrected, decoderHeads: heads)
        let (y, correctedSize) = corrected.encoderInput(slice, height: h, width: w)
        let expected = Preprocessing.sam(image: SAMSliceEncoder.rgbBytes(Tensor(shape: [1, h, w], data: Array(slice))),
                                         height: h, width: w, imageSize: s)
        XCTAssertEqual(y.data, expected.image.data)
        XCTAssertTrue(correctedSize == expected.inputSize)
        XCTAssertTrue(correctedSize == Postprocess.resizedSize(height: h, width: w, longestSide: s))
        XCTAssertGreaterThan(y.data.max()!, 2, "0-255 intensities after normalisation reach well above 2")
    }

    /// A box on a non-square slice lands in the frame of the image the encoder sees: the reference
    /// path stretches an H x W slice to S x S, so x scales by S / W and y by S / H (hand-computed
    /// below); the corrected path keeps the aspect ratio, like SAM's `apply_boxes`.
    func testBoxesFollowTheImageOnNonSquareSlices() throws {
        let (h, w) = (30, 45)
        let url = Fixtures.url("tiny_sam.pth")
        let heads = try XCTUnwrap(Fixtures.config["dec_num_heads"] as? Int)
        let reference = try BoxBaseline(checkpoint: url, inputPath: .reference, decoderHeads: heads)
        let s = Float(reference.imageEncoder.config.imageSize)
        let box: [Float] = [9, 6, 36, 24]
        let stretched = reference.promptFrame(box, height: h, width: w)
        assertClose(stretched, [9 * s / 45, 6 * s / 30, 36 * s / 45, 24 * s / 30], atol: 1e-4, rtol: 0,
                    "reference path")
        let corrected = try BoxBaseline(checkpoint: url, inputPath: .corrected, decoderHeads: heads)
        let resized = Postprocess.resizedSize(height: h, width: w, longestSide: Int(s))    // longest side -> S
        let (cx, cy) = (Float(resized.width) / Float(w), Float(resized.height) / Float(h))
        assertClose(corrected.promptFrame(box, height: h, width: w), [9 * cx, 6 * cy, 36 * cx, 24 * cy],
                    atol: 1e-4, rtol: 0, "corrected path keeps the aspect ratio")
        XCTAssertNotEqual(cy / cx, (s / 30) / (s / 45), "the two frames differ on a non-square slice")
    }

    func testRandomEncoderConfigIsRejected() {
        var c = config()
        c.encoder.checkpoint = ""
        XCTAssertThrowsError(try BoxBaseline(config: c, inputPath: .corrected)) { error in
            XCTAssertTrue("\(error)".contains("full SAM checkpoint"), "\(error)")
        }
        c.encoder.checkpoint = "/nonexistent/sam.pth"
        XCTAssertThrowsError(try BoxBaseline(config: c, inputPath: .reference)) { error in
            XCTAssertTrue("\(error)".contains("does not exist"), "\(error)")
        }
    }
}

/// The box baseline as a run (`head.kind = sam_box`): config keys, sharding over ranks, the
/// files a training run writes.
extension BoxBaselineTests {
    func testSamBoxConfigKeysAreValidated() throws {
        XCTAssertThrowsError(try ConfigLoader.load(file: nil, overrides: ["head.kind=sam_box"])) { error in
            XCTAssertTrue("\(error)".contains("sam_box needs encoder.checkpoint"), "\(error)")
        }
        XCTAssertThrowsError(try ConfigLoader.load(file: nil, overrides: ["head.box_input=fixed"])) { error in
            XCTAssertTrue("\(error)".contains("head.box_input must be reference or corrected, got 'fixed'"), "\(error)")
        }
        let c = try ConfigLoader.load(file: nil, overrides: ["head.kind=sam_box", "head.box_input=corrected",
                                                             "encoder.checkpoint=sam.pth"])
        XCTAssertEqual(c.head.kind, .samBox)
        XCTAssertEqual(c.head.box_input, .corrected)
        XCTAssertEqual(ExperimentConfig().head.box_input, .reference)
    }

    /// 1 rank and 2 in-process ranks write the same label maps and scores as the single-process
    /// `BoxBaseline.run`, one seed entry (the first of `seeds`), readable by `RunSummary.read`.
    func testConfigPathOnOneAndTwoRanksMatchesSingleProcessRun() throws {
        let heads = try XCTUnwrap(Fixtures.config["dec_num_heads"] as? Int)
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("autosam-box-run-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: base) }
        var one = config()
        one.head.kind = .samBox
        one.head.box_input = .corrected
        one.seeds = [3, 1]
        one.encoder.decoder_heads = heads
        one.output.dir = base.appendingPathComponent("one").path
        var two = one
        two.output.dir = base.appendingPathComponent("two").path

        let single = try XCTUnwrap(Experiment(config: one, world: SingleProcessCommunicator(),
                                              encoderFactory: Self.noEncoder).runBoxBaseline())
        let ranks = try LocalGroup.run(size: 2) { comm in
            try Experiment(config: two, world: comm, encoderFactory: Self.noEncoder).runBoxBaseline()
        }
        XCTAssertNil(ranks[1], "only the coordinator returns the summary")
        let double = try XCTUnwrap(ranks[0])

        let data = try Experiment(config: one, world: SingleProcessCommunicator(), encoderFactory: Self.noEncoder)
            .prepareData()
        XCTAssertGreaterThanOrEqual(data.test.volumes.count, 2, "both ranks should get a volume")
        let expected = try BoxBaseline(config: one, inputPath: .corrected).run(data.test, classes: 4)
        XCTAssertEqual(single.seeds, [3])
        XCTAssertEqual(single.name, one.name)
        XCTAssertEqual(single.perSeed, [expected.summary])
        XCTAssertEqual(double.perSeed, single.perSeed)
        XCTAssertEqual(double.overSeeds, single.overSeeds)
        XCTAssertEqual(try RunSummary.read(run: URL(fileURLWithPath: one.output.dir)).perSeed, single.perSeed)
        XCTAssertEqual(try RunSummary.read(run: URL(fileURLWithPath: two.output.dir)).overSeeds, single.overSeeds)
        for run in [one, two] {
            let seedDir = URL(fileURLWithPath: run.output.dir).appendingPathComponent("seed_3")
            for (volume, prediction) in zip(expected.volumes, expected.predictions) {
                let file = seedDir.appendingPathComponent("predictions/\(volume.name).nii.gz")
                XCTAssertEqual(try NIfTIStack(contentsOf: file).classIndices(classes: 4), prediction, file.path)
            }
            let csv = try String(contentsOf: seedDir.appendingPathComponent("test_volumes.csv"), encoding: .utf8)
            XCTAssertTrue(expected.volumes.allSatisfy { csv.contains($0.name) }, csv)
        }
    }

    /// The box run never builds a slice encoder (no cache, no head).
    static func noEncoder(_: ExperimentConfig) throws -> SliceEncoder {
        throw TrainingError.injected("the box baseline must not build a slice encoder")
    }
}
