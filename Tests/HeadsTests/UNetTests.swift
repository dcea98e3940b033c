import XCTest
import Heads
import Layers
import Tensors
import TestSupport

/// The UNet baseline: graph and parameter layout, PyTorch-default init, forward and full
/// backward against a Double-precision reference and its finite differences, and fitting one batch.
final class UNetTests: XCTestCase {
    func testOutputShapeAndStateDictLayout() {
        let net = UNet(classes: 4, width: 4, levels: 3)
        var workspace = net.makeWorkspace()
        let params = net.initialState(seed: 1).trainable.params
        let logits = net.forward(randomTensor([2, 3, 16, 24], seed: 2), parameters: params, frozen: [],
                                 workspace: &workspace)
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

    /// The Double reference computes the same function as `UNet.forward` (so its differences
    /// are differences of the function `UNet.backward` differentiates).
    func testDoubleReferenceMatchesForward() {
        for (net, shape) in Self.gradientCases {
            let probe = UNetGradientProbe(net, shape: shape, seed: 16)
            let expected = probe.doubleLogits(probe.parameters.map(Double.init)).map(Float.init)
            assertClose(probe.floatLogits(probe.parameters), expected, atol: 1e-5, rtol: 1e-5,
                        "L\(net.levels) \(shape)")
        }
    }

    /// Every op (conv-norm-ReLU, max-pool, up-conv, concat, classifier) through one, two and
    /// three levels (batch 1 and 2, a rectangular grid, 2 x 2 bottleneck planes): a sample of
    /// every parameter tensor against central differences of `UNetDoubleReference` in Double.
    ///
    /// Why not `GradientCheck` on the Float forward (it disagreed by 5-10 % on ~10 % of an L2
    /// net's sampled parameters): the Float loss carries a rounding error of about 1e-6 (5e-6 for
    /// L3), i.e. ~3e-3 of noise in a difference with step 3e-4, and from two levels on 10-15 % of
    /// the gradients, mostly the bottleneck's (2 x 2 / 4 x 4 instance-norm planes), are below 1e-2,
    /// so those read 5-100 % off. Larger steps cross ReLU / max-pool kinks and the instance norm's
    /// curvature (step 1e-3 is > 5 % off on 6 of 1938 elements of an L2 net even in Double), smaller
    /// ones raise the noise: no Float step works. In Double with step 1e-6 both errors vanish, and
    /// the analytic gradient matched every element of an L2 net (1938) and 400 sampled ones of an
    /// L2 (width 3, 16 x 16) and an L3 net to < 1e-3 relative (median 5e-7): no backward bug.
    func testBackwardMatchesDoubleFiniteDifferences() {
        for (net, shape) in Self.gradientCases {
            checkBackward(net, shape: shape, seed: 16, samplesPerTensor: net.levels == 3 ? 2 : 4)
        }
    }

    func testOverfitsOneBatch() {
        let net = UNet(classes: 3, width: 4, levels: 2)
        let (b, s) = (2, 16)
        let images = randomTensor([b, 3, s, s], seed: 21)
        let rng = CounterRNG(seed: 22, stream: 1)
        let cells = (0..<b * 16).map { Int32(rng.uniformInt(UInt64($0), below: 3)) }
        let labels = (0..<b * s * s).map { i in cells[(i / (s * s)) * 16 + (i / s % s) / 4 * 4 + (i % s) / 4] }
        var state = net.initialState(seed: 3, lr: 1e-2).trainable
        var step = HeadStep(head: net)
        var losses = [Double]()
        for _ in 0..<80 {
            losses.append(step.singleProcessStep(images, labels: labels, labelHeight: s, labelWidth: s,
                                                 state: &state, frozen: .empty).total)
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

    /// (net, input shape) pairs for the gradient checks; every plane is at least 2 x 2.
    static let gradientCases: [(UNet, [Int])] = [
        (UNet(classes: 2, width: 2, levels: 1), [1, 3, 8, 6]),
        (UNet(classes: 3, width: 2, levels: 2), [2, 3, 8, 8]),
        (UNet(classes: 2, width: 2, levels: 3), [1, 3, 16, 16]),
    ]

    /// `samplesPerTensor` elements of every parameter tensor: the analytic gradient within
    /// 1e-3 relative (plus 1e-5 of the largest gradient, Float rounding of the backward) of the
    /// Double central difference. Elements whose one-sided differences differ by more than that
    /// tolerance (a kink inside the step) are skipped, at most one in ten.
    func checkBackward(_ net: UNet, shape: [Int], seed: UInt64, samplesPerTensor: Int,
                       file: StaticString = #filePath, line: UInt = #line) {
        let probe = UNetGradientProbe(net, shape: shape, seed: seed)
        let analytic = probe.analyticGradient()
        let floor = 1e-5 * Double(analytic.map(abs).max()!)
        var (checked, kinks) = (0, 0)
        for (t, entry) in net.layout.entries.enumerated() {
            let picks = CounterRNG(seed: seed, stream: UInt64(t)).permutation(entry.count).prefix(samplesPerTensor)
            for e in picks.map({ entry.offset + $0 }) {
                let numeric = probe.doubleDifference(at: e), tolerance = 1e-3 * abs(numeric.central) + floor
                if numeric.gap > tolerance { kinks += 1; continue }
                checked += 1
                let a = Double(analytic[e]), label = "L\(net.levels) \(shape) \(entry.name)[\(e - entry.offset)]"
                XCTAssertLessThanOrEqual(abs(a - numeric.central), tolerance,
                                         "\(label): analytic \(a), Double FD \(numeric.central)", file: file,
                                         line: line)
            }
        }
        XCTAssertLessThanOrEqual(10 * kinks, checked, "L\(net.levels) \(shape): \(kinks) kinks for \(checked) checks",
                                 file: file, line: line)
    }
}
