import XCTest
import TensorFiles
import Foundation
import TestSupport
@testable import SAM

/// The configuration as the fixture manifest states it (`manifest.config`).
func manifestEncoderConfig() throws -> EncoderConfig {
    let m = Fixtures.config
    func int(_ key: String) throws -> Int { try XCTUnwrap(m[key] as? Int, "manifest.config.\(key)") }
    return EncoderConfig(imageSize: try int("img_size"), patchSize: try int("patch_size"),
                         embedDim: try int("enc_embed_dim"), depth: try int("enc_depth"),
                         heads: try int("enc_num_heads"),
                         mlpRatio: try XCTUnwrap(m["enc_mlp_ratio"] as? Double), windowSize: try int("window_size"),
                         globalBlocks: try XCTUnwrap(m["global_attn_indexes"] as? [Int]),
                         outChannels: try int("out_chans"))
}

final class EncoderConfigTests: XCTestCase {
    func testInferredConfigMatchesManifest() throws {
        let archive = try TensorArchives.open(Fixtures.url("tiny_sam.pth"))
        XCTAssertEqual(try EncoderConfig.infer(from: archive), try manifestEncoderConfig())
    }

    func testSafetensorsAndPthInferTheSameConfig() throws {
        let pth = try EncoderConfig.infer(from: TensorArchives.open(Fixtures.url("tiny_sam.pth")))
        let safe = try EncoderConfig.infer(from: TensorArchives.open(Fixtures.url("tiny_sam.safetensors")))
        XCTAssertEqual(pth, safe)
    }

    func testPresetsMatchDesign() {
        XCTAssertEqual(EncoderConfig.preset(named: "vit_b"), .vitB)
        XCTAssertEqual(EncoderConfig.vitB.gridSize, 64)
        XCTAssertEqual(EncoderConfig.vitB.headDim, 64)
        XCTAssertEqual(EncoderConfig.vitL.headDim, 64)
        XCTAssertEqual(EncoderConfig.vitH.headDim, 80)
        XCTAssertEqual(EncoderConfig.vitB.mlpDim, 3072)
        XCTAssertNil(EncoderConfig.preset(named: "vit_x"))
        for (name, config) in EncoderConfig.presets {
            XCTAssertEqual(config.presetName, name)
            XCTAssertEqual(config.problems, [])
        }
    }

    /// Parameter counts of the official checkpoints' image encoders (DESIGN §3.1: ~89M, ~308M, ~637M).
    func testPresetParameterCounts() {
        let counts = EncoderConfig.presets.map { ImageEncoderTable(config: $0.config).totalCount }
        XCTAssertEqual(counts[0], 89_670_912)
        XCTAssertEqual(Double(counts[1]) / 1e6, 308, accuracy: 1)
        XCTAssertEqual(Double(counts[2]) / 1e6, 637, accuracy: 1)
    }

    /// Random weights of other shapes (padded windows, MLP ratio 2.5, all-global attention) written
    /// as a checkpoint: inference recovers the configuration and loading accepts every key.
    func testInferenceRoundTripsOtherConfigurations() throws {
        let configs = [
            EncoderConfig(imageSize: 56, patchSize: 8, embedDim: 12, depth: 3, heads: 3, mlpRatio: 2.5, windowSize: 3,
                          globalBlocks: [1], outChannels: 5),
            EncoderConfig(imageSize: 20, patchSize: 4, embedDim: 8, depth: 2, heads: 1, windowSize: 0,
                          globalBlocks: [0, 1], outChannels: 4),
        ]
        for config in configs {
            let weights = try ImageEncoderWeights.random(config: config, seed: 5)
            let url = FileManager.default.temporaryDirectory
                .appendingPathComponent("roundtrip-\(UUID().uuidString).safetensors")
            defer { try? FileManager.default.removeItem(at: url) }
            try SafeTensorsFile.write(weights.table.slots.map { ($0.key, weights.tensor($0)) }, to: url)
            let archive = try TensorArchives.open(url)
            XCTAssertEqual(try EncoderConfig.infer(from: archive), config)
            let loaded = try ImageEncoderWeights.load(from: archive)
            XCTAssertEqual(loaded.tensor(loaded.neck2Weight), weights.tensor(weights.neck2Weight))
        }
    }

    /// The fixture's configuration against vit_b: a line per field that differs (which fields
    /// those are depends on the fixture's sizes), none for equal fields.
    func testCheckAgainstPresetListsDifferences() throws {
        let tiny = try manifestEncoderConfig(), vitB = EncoderConfig.vitB
        let differences = tiny.check(against: vitB)
        let fields: [(String, String, String)] = [
            ("imageSize", "\(tiny.imageSize)", "\(vitB.imageSize)"),
            ("patchSize", "\(tiny.patchSize)", "\(vitB.patchSize)"),
            ("embedDim", "\(tiny.embedDim)", "\(vitB.embedDim)"), ("depth", "\(tiny.depth)", "\(vitB.depth)"),
            ("globalBlocks", "\(tiny.globalBlocks)", "\(vitB.globalBlocks)"),
        ]
        for (name, mine, preset) in fields {
            let line = "\(name): \(mine) (preset: \(preset))"
            XCTAssertEqual(differences.contains(line), mine != preset, "\(line) in \(differences)")
            XCTAssertEqual(differences.contains { $0.hasPrefix(name + ":") }, mine != preset,
                           "\(name) in \(differences)")
        }
        XCTAssertFalse(differences.isEmpty, "the tiny fixture is not vit_b")
        XCTAssertEqual(EncoderConfig.vitB.check(against: .vitB), [])
    }

    func testLoadWithWrongPresetIsRejected() throws {
        let archive = try TensorArchives.open(Fixtures.url("tiny_sam.pth"))
        let expected = try manifestEncoderConfig().check(against: .vitB)   // which fields differ depends on the fixture
        XCTAssertFalse(expected.isEmpty, "the tiny fixture is not vit_b")
        XCTAssertThrowsError(try ImageEncoderWeights.load(from: archive, preset: .vitB)) { error in
            guard case let SAMLoadError.presetMismatch(_, preset, differences) = error else {
                return XCTFail("unexpected error \(error)")
            }
            XCTAssertEqual(preset, "vit_b")
            XCTAssertEqual(differences, expected)
        }
    }

    func testInvalidConfigProblems() {
        var c = EncoderConfig.vitB
        c.heads = 7
        c.globalBlocks = [12]
        XCTAssertEqual(c.problems.count, 2, "\(c.problems)")
        XCTAssertThrowsError(try ImageEncoderWeights.random(config: c, seed: 1))
    }

    func testConfigRoundTripsThroughJSON() throws {
        let data = try JSONEncoder().encode(EncoderConfig.vitH)
        XCTAssertEqual(try JSONDecoder().decode(EncoderConfig.self, from: data), .vitH)
    }
}

final class EncoderFLOPsTests: XCTestCase {
    /// vit_b at 1024: 972 GFLOP (PLATFORM.md's figure for PyTorch's encoder).
    func testViTBCount() {
        let f = EncoderFLOPs(config: .vitB)
        XCTAssertEqual(f.total / 1e9, 972, accuracy: 0.5)
        XCTAssertEqual(EncoderFLOPs(config: .vitB, images: 3).total, 3 * f.total, accuracy: 1)
        // Without the padded windows' projections: 8 windowed blocks x (70^2 - 64^2) padded tokens.
        let here = EncoderFLOPs(config: .vitB, projectionsOnPadding: false)
        XCTAssertEqual(f.total - here.total, 8 * Double(70 * 70 - 64 * 64) * 2 * (768 * 2304 + 768 * 768), accuracy: 1)
        XCTAssertEqual(here.attention, f.attention)
        XCTAssertEqual(f.mlp, 12 * 4 * 4096 * 768 * 3072)
    }
}
