import TensorFiles
import Foundation
import Heads
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

final class CheckpointInspectionTests: XCTestCase {
    private func temporaryFile(_ name: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("inspect-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent(name)
    }

    /// The fixture's key list (`tiny_sam_keys.json`): (key, shape, numel) in state-dict order.
    private func fixtureKeys() throws -> (keys: [(key: String, numel: Int)], total: Int) {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: Fixtures.url("tiny_sam_keys.json")))
            as! [String: Any]
        let keys = (json["keys"] as! [[String: Any]]).map { ($0["key"] as! String, $0["numel"] as! Int) }
        return (keys, json["num_params"] as! Int)
    }

    func testTinySAMIsDescribedFromItsShapesInBothFormats() throws {
        let (keys, total) = try fixtureKeys()
        let c = Fixtures.config
        for name in ["tiny_sam.pth", "tiny_sam.safetensors"] {
            let url = Fixtures.url(name)
            let inspection = try CheckpointInspection.inspect(url)
            XCTAssertEqual(inspection.kind, .sam(preset: nil), name)
            XCTAssertEqual(inspection.format, name.hasSuffix(".pth") ? .pth : .safetensors)
            let e = try XCTUnwrap(inspection.encoder)
            XCTAssertEqual([e.imageSize, e.patchSize, e.embedDim, e.depth, e.heads, e.windowSize, e.outChannels],
                           ["img_size", "patch_size", "enc_embed_dim", "enc_depth", "enc_num_heads", "window_size",
                            "out_chans"].map { c[$0] as! Int })
            XCTAssertEqual(e.globalBlocks, c["global_attn_indexes"] as! [Int])
            XCTAssertEqual(inspection.promptEncoder?.maskInChans, c["mask_in_chans"] as? Int)
            XCTAssertEqual(inspection.maskDecoder?.transformer.depth, c["dec_depth"] as? Int)
            XCTAssertEqual(inspection.maskDecoder?.iouHeadHiddenDim, c["iou_head_hidden_dim"] as? Int)
            for part in CheckpointInspection.samParts {
                let members = keys.filter { $0.key.hasPrefix(part + ".") }
                let found = try XCTUnwrap(inspection.parts.first { $0.name == part }, part)
                XCTAssertEqual(found.tensors, members.count, "\(name) \(part)")
                XCTAssertEqual(found.parameters, members.reduce(0) { $0 + $1.numel }, "\(name) \(part)")
            }
            XCTAssertEqual(inspection.parameterCount, total)
            XCTAssertEqual(inspection.dtypes.map(\.dtype), [.f32])
            XCTAssertEqual(inspection.dtypes.map(\.tensors), [keys.count])
            XCTAssertEqual(inspection.sha256, try SHA256.hexDigest(ofFile: url))
            XCTAssertEqual(inspection.fileSize, try Data(contentsOf: url).count)
            XCTAssertEqual(inspection.problems, [])
            XCTAssertTrue(inspection.report().contains("custom SAM-shaped"), inspection.report())
        }
    }

    func testPresetsAreNamedAndCustomConfigsCompareWithTheClosestPreset() {
        var config = EncoderConfig.vitL
        XCTAssertEqual(config.presetName, "vit_l")
        config.depth = 20
        let closest = CheckpointInspection.closestPreset(to: config)
        XCTAssertEqual(closest.name, "vit_l")
        XCTAssertEqual(closest.differences, ["depth: 20 (preset: 24)"])
    }

    func testDamagedCopiesFailNamingTheFile() throws {
        for name in ["tiny_sam.pth", "tiny_sam.safetensors"] {
            let bytes = try Data(contentsOf: Fixtures.url(name))
            let truncated = try temporaryFile("truncated-" + name)
            try bytes.prefix(bytes.count / 2).write(to: truncated)
            assertError(try CheckpointInspection.inspect(truncated), contains: truncated.path)
        }
        var pth = try Data(contentsOf: Fixtures.url("tiny_sam.pth"))
        for i in 200..<260 { pth[i] = 0x41 }                     // inside data.pkl
        let scrambled = try temporaryFile("scrambled.pth")
        try pth.write(to: scrambled)
        assertError(try CheckpointInspection.inspect(scrambled), contains: scrambled.path)
        let text = try temporaryFile("notes.pth")
        try Data("not a checkpoint at all".utf8).write(to: text)
        assertError(try CheckpointInspection.inspect(text), contains: text.path)
    }

    func testOtherTensorFilesAreNotSAMCheckpoints() throws {
        let url = Fixtures.url("dice_loss_unit.safetensors")
        assertError(try CheckpointInspection.inspect(url), contains: url.path + ": not a SAM checkpoint")
    }

    func testMissingKeysAndNonFiniteValuesAreProblems() throws {
        let archive = try SafeTensorsFile(contentsOf: Fixtures.url("tiny_sam.safetensors"))
        let dropped = "mask_decoder.iou_token.weight", poisoned = "image_encoder.neck.1.bias"
        var tensors = try archive.names.filter { $0 != dropped }.map { ($0, try archive.tensor($0)) }
        let p = tensors.firstIndex { $0.0 == poisoned }!
        tensors[p].1.data[0] = .nan
        let url = try temporaryFile("edited.safetensors")
        try SafeTensorsFile.write(tensors, to: url)
        let inspection = try CheckpointInspection.inspect(url)
        XCTAssertEqual(inspection.problems.count, 2, "\(inspection.problems)")
        XCTAssertTrue(inspection.problems.contains("1 non-finite (NaN or Inf) values"), "\(inspection.problems)")
        XCTAssertTrue(inspection.problems.contains { $0.contains("1 missing keys: \(dropped)") },
                      "\(inspection.problems)")
    }

    func testHeadCheckpointOfATrainingRunIsRecognisedAndVerified() throws {
        let (run, config) = TinyRun.shared
        let folder = run.appendingPathComponent(String(format: "seed_0/checkpoints/epoch_%04d", config.optim.epochs))
        let inspection = try CheckpointInspection.inspect(folder.appendingPathComponent("head.safetensors"))
        XCTAssertEqual(inspection.kind, .trainedHead)
        XCTAssertEqual(inspection.training?.epoch, config.optim.epochs)
        XCTAssertEqual(inspection.training?.config, config)
        let head = CNNHead(inputChannels: SpaceToDepthEncoder().embeddingShape[0], classes: config.data.classes,
                           depth: config.head.depth, topChannel: config.head.channels)
        XCTAssertEqual(inspection.parts.map(\.name), ["params", "frozen"])
        XCTAssertEqual(inspection.parts[0].parameters, head.layout.totalCount)
        XCTAssertEqual(inspection.parts[0].tensors, head.layout.names.count)
        XCTAssertTrue(inspection.notes.contains("SHA-256 matches state.json"), "\(inspection.notes)")
        XCTAssertEqual(inspection.problems, [])

        let copy = try temporaryFile("epoch_copy")
        try FileManager.default.copyItem(at: folder, to: copy)
        let file = try SafeTensorsFile(contentsOf: copy.appendingPathComponent("head.safetensors"))
        var tensors = try file.names.map { ($0, try file.tensor($0)) }
        tensors[0].1.data[0] += 1
        try SafeTensorsFile.write(tensors, to: copy.appendingPathComponent("head.safetensors"))
        let edited = try CheckpointInspection.inspect(copy.appendingPathComponent("head.safetensors"))
        XCTAssertEqual(edited.problems.count, 1)
        XCTAssertTrue(edited.problems[0].contains("differs from state.json"), edited.problems[0])
    }

    private func assertError<T>(_ body: @autoclosure () throws -> T, contains text: String, line: UInt = #line) {
        XCTAssertThrowsError(try body(), line: line) { error in
            XCTAssertTrue("\(error)".contains(text), "'\(error)' does not mention '\(text)'", line: line)
        }
    }
}
