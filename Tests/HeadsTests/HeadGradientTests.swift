import XCTest
import Heads
import Layers
import Tensors
import TestSupport

/// Finite-difference checks of the heads' full backward passes on tiny configurations (every
/// CNN up-sampling pattern, batch 1 and 2, odd and 1x1 grids), alone and chained with the loss
/// including the bilinear resize of the logits to a different label grid.
final class HeadGradientTests: XCTestCase {
    /// Every up-sampling pattern (k = 2..5). ReLU networks are only piecewise smooth: with many
    /// units a parameter step crosses kinks that the one-sided test cannot always tell from an
    /// error, so these tiny configurations (and seeds) are ones whose check passes for steps
    /// 5e-4, 1e-3 and 2e-3 alike, i.e. no unit sits near a kink. A wiring error fails them all.
    func testCNNHeadBackward() {
        // (depth, top channel, embedding channels, classes, batch, grid, seed)
        let configs = [(2, 1, 3, 2, 2, 2, 100), (3, 2, 4, 2, 1, 2, 101), (4, 1, 3, 2, 1, 2, 103),
                       (5, 1, 2, 2, 1, 2, 102)]
        for c in configs {
            let head = CNNHead(inputChannels: c.2, classes: c.3, depth: c.0, topChannel: c.1)
            checkBackward(head, batch: c.4, grid: c.5, seed: UInt64(c.6), "CNN k=\(c.0) t=\(c.1)")
        }
    }

    /// Seeds chosen like the CNN's (the final ReLU has kinks too; some seeds leave a tiny head dead).
    func testLinearHeadBackward() {
        checkBackward(LinearHead(inputChannels: 16, classes: 3), batch: 2, grid: 3, seed: 122, "linear C=16")
        checkBackward(LinearHead(inputChannels: 32, classes: 2), batch: 1, grid: 1, seed: 121, "linear C=32")
    }

    /// Head + resize + CE/Dice: down-sampling to a rectangular label grid, up-sampling, and no resize.
    func testLossChainWithResize() {
        checkLossChain(CNNHead(inputChannels: 3, classes: 3, depth: 2, topChannel: 2), batch: 2, grid: 3,
                       labels: (7, 9), seed: 130, "CNN 12x12 -> 7x9")
        checkLossChain(LinearHead(inputChannels: 8, classes: 4), batch: 2, grid: 2, labels: (11, 11), seed: 131,
                       "linear 8x8 -> 11x11")
        checkLossChain(LinearHead(inputChannels: 8, classes: 3), batch: 1, grid: 2, labels: (8, 8), seed: 132,
                       "linear 8x8, no resize")
    }

    /// A workspace sized for one batch is re-sized for another; results do not depend on history.
    func testWorkspaceFollowsBatchGeometry() {
        let head = CNNHead(inputChannels: 3, classes: 2, depth: 2, topChannel: 2)
        let params = head.initialState(seed: 5).trainable.params
        let pair = randomTensor([2, 3, 3, 3], seed: 140)
        let single = Tensor(shape: [1, 3, 3, 3], data: Array(pair.data[27...]))
        var shared = head.makeWorkspace(), fresh = head.makeWorkspace()
        _ = head.forward(pair, parameters: params, frozen: [], workspace: &shared)
        let reused = head.forward(single, parameters: params, frozen: [], workspace: &shared)
        let clean = head.forward(single, parameters: params, frozen: [], workspace: &fresh)
        XCTAssertEqual(reused, clean)
        XCTAssertEqual(reused.shape, [1, 2, 12, 12])
    }

    // MARK: - Helpers

    /// A small step (a larger one crosses ReLU kinks downstream that the one-sided test misses;
    /// a smaller one drowns in float32 rounding) on a sample of every parameter tensor
    /// (debug-build time).
    var check: GradientCheck {
        var check = GradientCheck(eps: 1e-3, atol: 1e-3, rtol: 1e-2, skipKinks: true)
        check.maxChecksPerInput = 6
        return check
    }

    /// The parameter buffer split into one tensor per layout entry (so every bias is checked).
    func split(_ buffer: [Float], _ layout: ParameterLayout) -> [Tensor] {
        layout.names.map { layout.tensor($0, in: buffer) }
    }

    func checkBackward<H: SegmentationHead>(_ head: H, batch: Int, grid: Int, seed: UInt64, _ name: String,
                                             file: StaticString = #filePath, line: UInt = #line) {
        let x = randomTensor([batch, head.inputChannels, grid, grid], seed: seed)
        let params = head.initialState(seed: seed).trainable.params
        var workspace = head.makeWorkspace()
        func gradients(_ flat: [Float], _ dLogits: (Tensor) -> Tensor) -> [Float] {
            let y = head.forward(x, parameters: flat, frozen: [], workspace: &workspace)
            var grads = [Float](repeating: 0, count: flat.count)
            head.backward(dLogits(y), parameters: flat, frozen: [], gradients: &grads, workspace: &workspace)
            return grads
        }
        let probe = gradients(params) { randomTensor($0.shape, seed: seed) }
        let live = Double(probe.filter { $0 != 0 }.count) / Double(probe.count)
        XCTAssertGreaterThan(live, 0.25, "\(name): too few non-zero gradients (dead ReLUs) for a meaningful check",
                             file: file, line: line)
        check.verify(
            name, inputs: split(params, head.layout),
            forward: { t in [head.forward(x, parameters: t.flatMap(\.data), frozen: [], workspace: &workspace)] },
            backward: { t, w in self.split(gradients(t.flatMap(\.data)) { _ in w[0] }, head.layout) },
            file: file, line: line)
    }

    func checkLossChain<H: SegmentationHead>(_ head: H, batch: Int, grid: Int, labels size: (Int, Int), seed: UInt64,
                                              _ name: String, file: StaticString = #filePath, line: UInt = #line) {
        let x = randomTensor([batch, head.inputChannels, grid, grid], seed: seed)
        let rng = CounterRNG(seed: seed, stream: 3)
        let labels = (0..<batch * size.0 * size.1).map {
            Int32(rng.uniformInt(UInt64($0), below: UInt64(head.classes)))
        }
        var state = head.initialState(seed: seed).trainable
        var step = HeadStep(head: head)
        func loss(_ params: [Float]) -> Float {
            var probe = state
            probe.params = params
            return Float(step.singleProcess(x, labels: labels, labelHeight: size.0, labelWidth: size.1, state: &probe,
                                            frozen: .empty, backward: false).total)
        }
        check.verify(
            name, inputs: split(state.params, head.layout),
            forward: { t in [Tensor(shape: [1], data: [loss(t.flatMap(\.data))])] },
            backward: { t, w in
                state.params = t.flatMap(\.data)
                _ = step.singleProcess(x, labels: labels, labelHeight: size.0, labelWidth: size.1, state: &state,
                                       frozen: .empty, backward: true)
                return self.split(state.grads.map { $0 * w[0].data[0] }, head.layout)
            }, file: file, line: line)
    }
}
