import XCTest
import Checkpoints
import Foundation
import Heads
import Optim
import Tensors
import TestSupport

/// Saving and loading head state under the reference's state-dict names.
final class HeadCheckpointTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("heads-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try FileManager.default.removeItem(at: directory)
    }

    /// A state that has taken two Adam steps, so moments and step are non-trivial.
    func trainedState<H: SegmentationHead>(_ head: H, seed: UInt64) -> TrainableState {
        var state = head.initialState(seed: seed, lr: 3e-3).trainable
        let x = randomTensor([1, head.inputChannels, 2, 2], seed: seed)
        let labels = [Int32](repeating: 1, count: 64)
        var step = HeadStep(head: head)
        for _ in 0..<2 {
            step.singleProcessStep(x, labels: labels, labelHeight: 8, labelWidth: 8, state: &state, frozen: .empty)
        }
        return state
    }

    func testRoundTripWithOptimizer() throws {
        let head = CNNHead(inputChannels: 6, classes: 3, depth: 3, topChannel: 2)
        let saved = trainedState(head, seed: 11)
        let url = directory.appendingPathComponent("cnn.safetensors")
        try HeadCheckpoint.save(saved, frozen: .empty, to: url, includeOptimizer: true, metadata: ["epoch": "7"])

        // The file speaks PyTorch's names: a reader sees every state-dict key with its shape.
        let file = try SafeTensorsFile(contentsOf: url)
        for entry in head.layout.entries {
            XCTAssertEqual(try file.entry(entry.name).shape, entry.shape, entry.name)
        }

        var loaded = head.initialState(seed: 99).trainable
        var frozen = FrozenState.empty
        let result = try HeadCheckpoint.load(from: url, into: &loaded, frozen: &frozen)
        XCTAssertTrue(result.restoredOptimizer)
        XCTAssertEqual(result.metadata["epoch"], "7")
        XCTAssertEqual(loaded.params, saved.params)
        XCTAssertEqual(loaded.adam, saved.adam)
        XCTAssertEqual(loaded.adam.step, 2)
    }

    /// Without the optimiser the parameters come back and Adam restarts from zero moments.
    func testRoundTripParametersOnly() throws {
        let head = LinearHead(inputChannels: 16, classes: 4)
        let saved = trainedState(head, seed: 12)
        let url = directory.appendingPathComponent("linear.safetensors")
        try HeadCheckpoint.save(saved, frozen: .empty, to: url)
        XCTAssertEqual(Set(try SafeTensorsFile(contentsOf: url).names), Set(head.layout.names))

        var loaded = trainedState(head, seed: 13)
        var frozen = FrozenState.empty
        XCTAssertFalse(try HeadCheckpoint.load(from: url, into: &loaded, frozen: &frozen).restoredOptimizer)
        XCTAssertEqual(loaded.params, saved.params)
        XCTAssertEqual(loaded.adam.step, 0)
        XCTAssertEqual(loaded.adam.lr, 3e-3)
        XCTAssertTrue(loaded.adam.m.allSatisfy { $0 == 0 })
    }

    /// Frozen tensors are written and read under their own names next to the trainable ones.
    func testFrozenStateRoundTrip() throws {
        let head = CNNHead(inputChannels: 4, classes: 2, depth: 2, topChannel: 1)
        let state = head.initialState(seed: 14).trainable
        let frozenLayout = ParameterLayout([("pe_layer.positional_encoding_gaussian_matrix", [2, 3])])
        let frozen = FrozenState(layout: frozenLayout, values: randomTensor([6], seed: 14).data)
        let url = directory.appendingPathComponent("frozen.safetensors")
        try HeadCheckpoint.save(state, frozen: frozen, to: url)

        var loadedState = head.initialState(seed: 15).trainable
        var loadedFrozen = FrozenState(layout: frozenLayout, values: [Float](repeating: 0, count: 6))
        try HeadCheckpoint.load(from: url, into: &loadedState, frozen: &loadedFrozen)
        XCTAssertEqual(loadedFrozen, frozen)
        XCTAssertEqual(loadedState.params, state.params)

        var noFrozen = FrozenState.empty
        XCTAssertThrowsError(try HeadCheckpoint.load(from: url, into: &loadedState, frozen: &noFrozen)) { error in
            XCTAssertEqual((error as? HeadCheckpointError)?.unexpected, ["pe_layer.positional_encoding_gaussian_matrix"])
        }
    }

    /// Loading a file written by another configuration names the file and every difference, and
    /// leaves the target state untouched.
    func testWrongConfigurationIsRejected() throws {
        let writer = CNNHead(inputChannels: 6, classes: 3, depth: 2, topChannel: 4)
        let url = directory.appendingPathComponent("d2t4.safetensors")
        try HeadCheckpoint.save(writer.initialState(seed: 16).trainable, frozen: .empty, to: url)

        let reader = CNNHead(inputChannels: 6, classes: 3, depth: 2, topChannel: 2)
        let original = reader.initialState(seed: 17).trainable
        var target = original
        var frozen = FrozenState.empty
        XCTAssertThrowsError(try HeadCheckpoint.load(from: url, into: &target, frozen: &frozen)) { error in
            guard let e = error as? HeadCheckpointError else { return XCTFail("unexpected error \(error)") }
            XCTAssertEqual(e.file, url.path)
            XCTAssertEqual(e.missing, [])
            XCTAssertEqual(e.unexpected, [])
            let first = e.misShaped.first { $0.name == "mask_decoder.input_block.0.weight" }
            XCTAssertEqual(first?.expected, [8, 6, 1, 1])
            XCTAssertEqual(first?.found, [16, 6, 1, 1])
            XCTAssertEqual(e.misShaped.count, reader.layout.entries.count - 1, "all but final.1.bias differ")
            XCTAssertTrue(e.description.contains(url.path))
            XCTAssertTrue(e.description.contains("expected shape [8, 6, 1, 1], found [16, 6, 1, 1]"), e.description)
        }
        XCTAssertEqual(target, original)

        let linear = LinearHead(inputChannels: 16, classes: 3)
        var linearState = linear.initialState(seed: 18).trainable
        XCTAssertThrowsError(try HeadCheckpoint.load(from: url, into: &linearState, frozen: &frozen)) { error in
            guard let e = error as? HeadCheckpointError else { return XCTFail("unexpected error \(error)") }
            XCTAssertEqual(e.missing, linear.layout.names.filter { !writer.layout.names.contains($0) })
            XCTAssertEqual(Set(e.unexpected), Set(writer.layout.names.filter { !linear.layout.names.contains($0) }))
            XCTAssertTrue(e.description.contains("missing tensors: mask_decoder.output_upscaling.0.weight"), e.description)
        }
    }

    /// A checkpoint with a partial optimiser state is rejected rather than half-restored.
    func testIncompleteOptimizerStateIsRejected() throws {
        let head = LinearHead(inputChannels: 8, classes: 2)
        let state = head.initialState(seed: 19).trainable
        var tensors = head.layout.names.map { ($0, state.parameter($0)) }
        tensors.append(("optimizer/exp_avg/" + head.layout.names[0], state.parameter(head.layout.names[0])))
        let url = directory.appendingPathComponent("partial.safetensors")
        try SafeTensorsFile.write(tensors, to: url)
        var target = state
        var frozen = FrozenState.empty
        XCTAssertThrowsError(try HeadCheckpoint.load(from: url, into: &target, frozen: &frozen)) { error in
            let e = error as? HeadCheckpointError
            XCTAssertEqual(e?.missing.count, 2 * head.layout.entries.count - 1)
        }
    }
}
