import XCTest
import TensorFiles
import Tensors
import TestSupport
@testable import SAM

final class ImageEncoderTests: XCTestCase {
    func tinyEncoder() throws -> ImageEncoder {
        try ImageEncoder(archive: TensorArchives.open(Fixtures.url("tiny_sam.pth")))
    }

    /// Output, patch embedding and every block output of `encoder.safetensors`, within the
    /// manifest's suggested atol + rtol 1e-4; shapes come from the fixture. Run with 1 and 2 BLAS
    /// threads: the attention heads run serially or concurrently.
    func testForwardMatchesFixture() throws {
        let saved = BLASRuntime.threads
        defer { BLASRuntime.setThreads(saved) }
        for threads in [1, 2] {
            BLASRuntime.setThreads(threads)
            try checkForwardAgainstFixture()
        }
    }

    func checkForwardAgainstFixture() throws {
        let encoder = try tinyEncoder()
        let fixture = try Fixtures.file("encoder")
        var taps: [String: Tensor] = [:]
        let output = encoder.forward(try fixture.tensor("input")) { tap, tensor in
            switch tap {
            case .patchEmbed: taps["patch_embed_out"] = tensor
            case let .block(i): taps["block\(i)_out"] = tensor
            }
        }
        let expectedNames = fixture.names.filter { $0.hasPrefix("block") || $0 == "patch_embed_out" }
        XCTAssertEqual(Set(taps.keys), Set(expectedNames))
        for name in expectedNames.sorted() {
            let actual = try XCTUnwrap(taps[name])
            assertClose(actual, try fixture.tensor(name), atol: Fixtures.suggestedAtol("encoder", name), rtol: 1e-4,
                        name)
        }
        assertClose(output, try fixture.tensor("output"), atol: Fixtures.suggestedAtol("encoder", "output"),
                    rtol: 1e-4, "output")
    }

    /// A batch of two gives each image's own result (up to GEMM blocking order), and a reused
    /// workspace gives bit-identical results.
    func testBatchAndWorkspaceReuse() throws {
        let encoder = try tinyEncoder()
        let input = try Fixtures.file("encoder").tensor("input")
        let other = randomTensor(input.shape, seed: 7)
        let workspace = ImageEncoderWorkspace(config: encoder.config, batch: 2)
        let both = Tensor(shape: [2] + input.shape.dropFirst(), data: other.data + input.data)
        let first = encoder.forward(both, workspace: workspace)
        let again = encoder.forward(both, workspace: workspace)
        XCTAssertTrue(first == again, "a reused workspace changed the result")
        let n = first.count / 2
        assertClose(Array(first.data[n...]), encoder.forward(input).data, atol: 1e-5, rtol: 1e-5, "image 1")
        assertClose(Array(first.data[..<n]), encoder.forward(other).data, atol: 1e-5, rtol: 1e-5, "image 0")
        XCTAssertGreaterThan(workspace.timings.total, 0)
    }

    func testLoadedWeightsEqualCheckpointTensors() throws {
        let archive = try TensorArchives.open(Fixtures.url("tiny_sam.safetensors"))
        let weights = try ImageEncoderWeights.load(from: archive)
        let encoderKeys = archive.names.filter { $0.hasPrefix("image_encoder.") }
        XCTAssertEqual(weights.table.slots.map(\.key).sorted(), encoderKeys.sorted())
        for slot in weights.table.slots {
            XCTAssertEqual(weights.tensor(slot), try archive.tensor(slot.key), slot.key)
        }
        XCTAssertEqual(weights.blocks.count, try manifestEncoderConfig().depth)
        for (i, block) in weights.blocks.enumerated() {
            XCTAssertEqual(block.attnQkvWeight.key, "image_encoder.blocks.\(i).attn.qkv.weight")
        }
    }

    // MARK: Loading errors

    /// Writes the fixture checkpoint's tensors, edited by `edit`, to a temporary safetensors file.
    func editedCheckpoint(_ edit: (inout [(String, Tensor)]) -> Void) throws -> any TensorArchive {
        let source = try TensorArchives.open(Fixtures.url("tiny_sam.safetensors"))
        var tensors = try source.names.map { ($0, try source.tensor($0)) }
        edit(&tensors)
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("edited-\(UUID().uuidString).safetensors")
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        try SafeTensorsFile.write(tensors, to: url)
        return try TensorArchives.open(url)
    }

    /// The `LoadError` of loading `archive`, after checking that it names the file.
    func keyMismatch(_ archive: any TensorArchive, file: StaticString = #filePath, line: UInt = #line) -> LoadError? {
        do {
            _ = try ImageEncoderWeights.load(from: archive)
            XCTFail("loading succeeded", file: file, line: line)
        } catch let error as LoadError {
            XCTAssertEqual(error.source, archive.path, file: file, line: line)
            return error
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
        }
        return nil
    }

    func testMissingWrongShapeAndExtraKeysAreAllReported() throws {
        let lastBlock = try manifestEncoderConfig().depth - 1   // block 1 in the current fixtures
        let missingKey = "image_encoder.blocks.0.norm2.bias"
        let reshapedKey = "image_encoder.blocks.\(lastBlock).attn.qkv.weight"
        let extraKey = "image_encoder.neck.4.weight"
        var reshapedTo: [Int] = []
        let archive = try editedCheckpoint { tensors in
            tensors.removeAll { $0.0 == missingKey }
            let i = tensors.firstIndex { $0.0 == reshapedKey }!
            let t = tensors[i].1
            reshapedTo = [t.shape[0] + 1, t.shape[1]]
            tensors[i].1 = Tensor(zeros: reshapedTo)
            tensors.append((extraKey, Tensor(zeros: [3])))
            tensors.append(("prompt_encoder.something_new", Tensor(zeros: [2])))
        }
        let error = try XCTUnwrap(keyMismatch(archive)), report = error.report
        XCTAssertEqual(report.missing.map(\.name), [missingKey])
        XCTAssertEqual(report.unused.map(\.name), [extraKey],
                       "keys outside image_encoder. are not the encoder's business")
        let original = try TensorArchives.open(Fixtures.url("tiny_sam.safetensors")).info(reshapedKey).shape
        XCTAssertEqual(report.misshaped, [.init(name: reshapedKey, expected: original, found: reshapedTo)])
        let message = error.description
        XCTAssertTrue(message.contains(missingKey) && message.contains(extraKey) && message.contains("\(reshapedTo)"),
                      message)
    }

    /// One NaN in a weight: loading fails naming the file, the tensor and the element (it would
    /// otherwise train to NaN silently); the same for the mask decoder's weights.
    func testANonFiniteWeightIsRefusedByName() throws {
        let key = "image_encoder.patch_embed.proj.weight"
        let decoderKey = "mask_decoder.output_upscaling.0.weight"
        let archive = try editedCheckpoint { tensors in
            for name in [key, decoderKey] {
                let i = tensors.firstIndex { $0.0 == name }!
                tensors[i].1.data[3] = .nan
            }
        }
        XCTAssertThrowsError(try ImageEncoderWeights.load(from: archive)) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains(key) && message.contains("element 3") && message.contains(archive.path),
                          message)
        }
        let heads = try XCTUnwrap(Fixtures.config["dec_num_heads"] as? Int)
        XCTAssertThrowsError(try MaskDecoder(loading: archive, heads: heads)) { error in
            XCTAssertTrue("\(error)".contains(decoderKey), "\(error)")
        }
    }

    func testNonSAMCheckpointCannotInferConfig() throws {
        let archive = try editedCheckpoint { tensors in tensors.removeAll { $0.0.hasPrefix("image_encoder.") } }
        XCTAssertThrowsError(try ImageEncoderWeights.load(from: archive)) { error in
            guard case let SAMLoadError.cannotInferConfig(_, reasons) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(reasons.contains("no tensor 'image_encoder.patch_embed.proj.weight'"), "\(reasons)")
        }
    }

    // MARK: Random weights

    func testRandomWeightsAreSeededWithPyTorchScales() throws {
        let config = try manifestEncoderConfig()
        let a = try ImageEncoderWeights.random(config: config, seed: 3)
        let b = try ImageEncoderWeights.random(config: config, seed: 3)
        let c = try ImageEncoderWeights.random(config: config, seed: 4)
        let qkv = a.blocks[0].attnQkvWeight
        XCTAssertEqual(a.tensor(qkv), b.tensor(qkv))
        XCTAssertNotEqual(a.tensor(qkv), c.tensor(qkv))
        let bound = 1 / Float(config.embedDim).squareRoot()
        XCTAssertLessThanOrEqual(a.tensor(qkv).maxAbs, bound)
        XCTAssertGreaterThan(a.tensor(qkv).maxAbs, 0.9 * bound)
        XCTAssertEqual(Set(a.tensor(a.blocks[0].norm1Weight).data), [1])
        XCTAssertEqual(Set(a.tensor(a.neck3Bias).data), [0])
        let output = ImageEncoder(weights: a).forward(randomTensor([1, 3, config.imageSize, config.imageSize], seed: 1))
        XCTAssertEqual(output.shape, [1, config.outChannels, config.gridSize, config.gridSize])
        XCTAssertTrue(output.data.allSatisfy(\.isFinite))
    }

    /// `bench encoder` times the products alone on a workspace between real passes: that pass runs on
    /// windowed and global blocks and leaves the weights and the next real pass untouched.
    func testProductsOnlyPassLeavesTheNextForwardUnchanged() throws {
        let config = try manifestEncoderConfig()
        let encoder = ImageEncoder(weights: try ImageEncoderWeights.random(config: config, seed: 6))
        let workspace = ImageEncoderWorkspace(config: config, batch: 1)
        let image = randomTensor([1, 3, config.imageSize, config.imageSize], seed: 7)
        let before = encoder.forward(image, workspace: workspace)
        var scratch = Tensor(zeros: before.shape)
        image.withPointer { x in
            scratch.withMutablePointer { y in encoder.forwardProductsOnly(output: y, images: x, workspace: workspace) }
        }
        XCTAssertEqual(encoder.forward(image, workspace: workspace).data, before.data)
    }
}
