import XCTest
import TensorFiles
import Heads
import Tensors
import TestSupport

/// The CNN and linear heads against the PyTorch fixtures (`cnn_head_d2`, `cnn_head_d4`,
/// `linear_head` on `head_inputs`): architecture and names, logits, and the loss parts and every
/// parameter gradient of the training path (`HeadStep`, on 1, 2 and 3 ranks). Configurations are
/// derived from the fixtures' parameter names and shapes.
final class HeadFixtureTests: XCTestCase {
    /// Shared inputs: embeddings (B, C, g, g) and labels (B, L, L).
    struct Inputs {
        var embeddings: Tensor
        var labels: [Int32]
        var labelHeight: Int
        var labelWidth: Int

        static func load() throws -> Inputs {
            let file = try Fixtures.file("head_inputs")
            let shape = try file.entry("labels").shape
            return Inputs(embeddings: try file.tensor("image_embeddings"),
                          labels: try file.integers("labels").map(Int32.init),
                          labelHeight: shape[1], labelWidth: shape[2])
        }
    }

    func testCNNHeadD2() throws { try checkFixture("cnn_head_d2", head: try cnnHead(fixture: "cnn_head_d2")) }

    func testCNNHeadD4() throws { try checkFixture("cnn_head_d4", head: try cnnHead(fixture: "cnn_head_d4")) }

    func testLinearHead() throws { try checkFixture("linear_head", head: try linearHead(fixture: "linear_head")) }

    /// The depth-dependent up-sampling pattern equals the reference's (`block_upsamples`).
    func testCNNBlockUpsamplingMatchesManifest() throws {
        for name in ["cnn_head_d2", "cnn_head_d4"] {
            let head = try cnnHead(fixture: name)
            let expected = try XCTUnwrap(Self.manifestEntry(name)["block_upsamples"] as? [Bool])
            XCTAssertEqual((0..<head.depth).map { CNNHead.upsamples(block: $0, depth: head.depth) }, expected, name)
        }
    }

    // MARK: - Fixture-derived heads

    /// k = number of `blocks.<i>` modules, t = channels of `final.0`, C and K from the end convs.
    func cnnHead(fixture name: String) throws -> CNNHead {
        let file = try Fixtures.file(name)
        let params = Self.parameterNames(file)
        let blocks = Set(params.compactMap { key -> Int? in
            let parts = key.split(separator: ".")
            return parts.count > 3 && parts[1] == "blocks" ? Int(parts[2]) : nil
        })
        let top = try file.entry("params/mask_decoder.final.0.weight").shape[0]
        let input = try file.entry("params/mask_decoder.input_block.0.weight").shape[1]
        let classes = try file.entry("params/mask_decoder.final.1.weight").shape[0]
        XCTAssertEqual(blocks, Set(0..<blocks.count), "\(name): block indices are not contiguous")
        return CNNHead(inputChannels: input, classes: classes, depth: blocks.count, topChannel: top)
    }

    func linearHead(fixture name: String) throws -> LinearHead {
        let file = try Fixtures.file(name)
        return LinearHead(inputChannels: try file.entry("params/mask_decoder.output_upscaling.0.weight").shape[0],
                          classes: try file.entry("params/mask_decoder.final.2.weight").shape[0])
    }

    static func parameterNames(_ file: SafeTensorsFile) -> [String] {
        file.names.filter { $0.hasPrefix("params/") }.map { String($0.dropFirst("params/".count)) }
    }

    static func manifestEntry(_ name: String) -> [String: Any] {
        let files = Fixtures.manifest["files"] as? [String: Any]
        return files?[name + ".safetensors"] as? [String: Any] ?? [:]
    }

    /// A trainable state holding the fixture's `params/*`.
    static func state<H: SegmentationHead>(_ head: H, fixture file: SafeTensorsFile) throws -> TrainableState {
        var state = head.initialState(seed: 1).trainable
        for name in head.layout.names { state.setParameter(name, try file.tensor("params/" + name)) }
        return state
    }

    // MARK: - The comparison

    func checkFixture<H: SegmentationHead>(_ name: String, head: H) throws {
        let file = try Fixtures.file(name), inputs = try Inputs.load()
        let expectedOrder = try XCTUnwrap(Self.manifestEntry(name)["param_names_in_order"] as? [String])
        XCTAssertEqual(head.layout.names, expectedOrder, "\(name): parameter names and order")
        let misShaped = head.layout.entries.filter { (try? file.entry("params/" + $0.name).shape) != $0.shape }
        XCTAssertEqual(misShaped.map(\.name), [], "\(name): parameters missing from the fixture or of another shape")
        XCTAssertEqual(Set(Self.parameterNames(file)), Set(head.layout.names), "\(name): fixture parameters")
        guard misShaped.isEmpty else { return }

        let state = try Self.state(head, fixture: file)
        var workspace = head.makeWorkspace()
        let logits = head.forward(inputs.embeddings, state: state, frozen: .empty, workspace: &workspace)
        let expectedLogits = try file.tensor("output")
        let grid = inputs.embeddings.shape
        let size = head.outputSize(height: grid[2], width: grid[3])
        XCTAssertEqual([size.height, size.width], Array(logits.shape[2...]), "\(name): outputSize")
        assertClose(logits, expectedLogits, atol: Fixtures.suggestedAtol(name, "output"), rtol: 1e-4, "\(name)/output")

        try FixtureTrainingPath.check(head, state: state, frozen: .empty, fixture: name)
    }
}
