import XCTest
import Heads
import Layers
import Tensors
import TestSupport

/// The UNet baseline: graph and parameter layout, PyTorch-default init, full backward against
/// finite differences, and fitting one batch.
final class UNetTests: XCTestCase {
    func testOutputShapeAndStateDictLayout() {
        let net = UNet(classes: 4, width: 4, levels: 3)
        var workspace = net.makeWorkspace()
        let params = net.initialState(seed: 1).trainable.params
        let logits = net.forward(randomTensor([2, 3, 16, 24], seed: 2), parameters: params, frozen: [], workspace: &workspace)
        XCTAssertEqual(logits.shape, [2, 4, 16, 24])
        XCTAssertTrue(logits.data.allSatisfy(\.isFinite))
        XCTAssertEqual(net.layout.names.first, "encoders.0.0.conv.weight")
        XCTAssertEqual(net.layout.entry("encoders.0.0.conv.weight")?.shape, [4, 3, 3, 3])
        XCTAssertEqual(net.layout.entry("encoders.3.1.conv.weight")?.shape, [32, 32, 3, 3], "bottleneck at 8w")
        XCTAssertEqual(net.layout.entry("ups.2.weight")?.shape, [32, 16, 2, 2])
        XCTAssertEqual(net.layout.entry("decoders.0.0.conv.weight")?.shape, [4, 8, 3, 3], "skip + up concatenated")
        XCTAssertEqual(net.layout.names.last, "final.bias")
        // Per level l (c = 4 * 2^l): two encoder convs and norms; per decoder level an up-conv and two convs.
        var expected = 0
        for l in 0...3 {
            let c = 4 << l, input = l == 0 ? 3 : c / 2
            expected += c * input * 9 + c * c * 9 + 4 * c
            if l < 3 { expected += 2 * c * c * 4 + c + 2 * c * c * 9 + c * c * 9 + 4 * c }
        }
        expected += 4 * 4 + 4
        XCTAssertEqual(net.layout.totalCount, expected)
        XCTAssertEqual(net.outputSize(height: 16, width: 24).height, 16)
    }

    func testPyTorchDefaultInitialisation() {
        let net = UNet(classes: 3, width: 2, levels: 2)
        XCTAssertEqual(net.initialization(of: "encoders.1.0.conv.weight"), .pyTorchDefault(fanIn: 2 * 9))
        XCTAssertEqual(net.initialization(of: "encoders.1.0.norm.weight"), .constant(1))
        XCTAssertEqual(net.initialization(of: "decoders.0.1.norm.bias"), .constant(0))
        XCTAssertEqual(net.initialization(of: "ups.1.weight"), .pyTorchDefault(fanIn: 4 * 4))
        XCTAssertEqual(net.initialization(of: "final.bias"), .pyTorchDefault(fanIn: 2))
        let state = net.initialState(seed: 9).trainable
        let bound = 1 / Float(2 * 9).squareRoot()
        XCTAssertTrue(state.parameter("encoders.1.0.conv.weight").data.allSatisfy { abs($0) <= bound })
    }

    /// Tiny one-level UNets (every op: conv-norm-ReLU, max-pool, up-conv, concat, classifier;
    /// batch 1 and 2, a rectangular grid): a sample of every parameter tensor against central
    /// differences with a small step (larger steps cross ReLU and max-pool kinks downstream that
    /// the one-sided test misses). Two-level nets are exercised by the overfit test only: their
    /// 2 x 2 / 4 x 4 bottleneck planes make instance norm too curved for a float32 difference check.
    func testBackwardMatchesFiniteDifferences() {
        checkBackward(UNet(classes: 2, width: 2, levels: 1), shape: [1, 3, 8, 6], seed: 16, "L1 w2 8x6")
        checkBackward(UNet(classes: 2, width: 2, levels: 1), shape: [2, 3, 8, 8], seed: 16, "L1 w2 batch 2")
    }

    func testOverfitsOneBatch() {
        let net = UNet(classes: 3, width: 4, levels: 2)
        let (b, s) = (2, 16)
        let images = randomTensor([b, 3, s, s], seed: 21)
        let rng = CounterRNG(seed: 22, stream: 1)
        let cells = (0..<b * 16).map { Int32(rng.uniformInt(UInt64($0), below: 3)) }
        let labels = (0..<b * s * s).map { i in cells[(i / (s * s)) * 16 + (i / s % s) / 4 * 4 + (i % s) / 4] }
        var state = net.initialState(seed: 3, lr: 1e-2).trainable
        var workspace = net.makeWorkspace()
        var losses = [Double]()
        for _ in 0..<80 {
            losses.append(net.trainingStep(embeddings: images, labels: labels, labelHeight: s, labelWidth: s,
                                           state: &state, frozen: .empty, workspace: &workspace).total)
        }
        XCTAssertGreaterThan(losses[0], 1.0)
        XCTAssertLessThan(losses.last!, 0.05, "loss went \(losses[0]) -> \(losses.last!)")
    }

    func testWorkspaceFollowsBatchGeometry() {
        let net = UNet(classes: 2, width: 2, levels: 2)
        let params = net.initialState(seed: 5).trainable.params
        let pair = randomTensor([2, 3, 8, 8], seed: 30)
        let single = Tensor(shape: [1, 3, 8, 8], data: Array(pair.data[192...]))
        var shared = net.makeWorkspace(), fresh = net.makeWorkspace()
        let both = net.forward(pair, parameters: params, frozen: [], workspace: &shared)
        let reused = net.forward(single, parameters: params, frozen: [], workspace: &shared)
        XCTAssertEqual(reused, net.forward(single, parameters: params, frozen: [], workspace: &fresh))
        XCTAssertEqual(Array(both.data[128...]), reused.data, "images of a batch are independent (instance norm)")
    }

    // MARK: - Helpers

    func checkBackward(_ net: UNet, shape: [Int], seed: UInt64, _ name: String, eps: Float = 3e-4,
                       file: StaticString = #filePath, line: UInt = #line) {
        let x = randomTensor(shape, seed: seed)
        let params = net.initialState(seed: seed).trainable.params
        var workspace = net.makeWorkspace()
        func split(_ buffer: [Float]) -> [Tensor] { net.layout.names.map { net.layout.tensor($0, in: buffer) } }
        func gradients(_ flat: [Float], _ dLogits: Tensor) -> [Float] {
            _ = net.forward(x, parameters: flat, frozen: [], workspace: &workspace)
            var grads = [Float](repeating: 0, count: flat.count)
            net.backward(dLogits, parameters: flat, frozen: [], gradients: &grads, workspace: &workspace)
            return grads
        }
        var check = GradientCheck(eps: eps, atol: 5e-3, rtol: 2e-2, skipKinks: true)
        check.maxChecksPerInput = 6
        check.verify(
            name, inputs: split(params),
            forward: { t in [net.forward(x, parameters: t.flatMap(\.data), frozen: [], workspace: &workspace)] },
            backward: { t, w in split(gradients(t.flatMap(\.data), w[0])) },
            file: file, line: line)
    }
}
