import XCTest
import Heads
import Layers
import SAM
import Tensors
import TestSupport

/// The AutoSAM head on tiny configurations (D = 16): finite differences of every trainable
/// tensor, the loss chain through the label resize, workspace reuse, and an overfit run. The
/// fixture comparisons are in `AutoSAMHeadTests`.
final class AutoSAMHeadBackwardTests: XCTestCase {
    /// A tiny configuration: D = 16 (2 heads, cross-attention width 8), MLP 8.
    static func tinyHead(classes: Int, depth: Int = 2) -> AutoSAMHead {
        let transformer = TwoWayTransformerConfig(depth: depth, embeddingDim: 16, heads: 2, mlpDim: 8)
        return AutoSAMHead(config: AutoSAMHeadConfig(
            decoder: MaskDecoderConfig(transformer: transformer, numMultimaskOutputs: 1, iouHeadDepth: 3,
                                       iouHeadHiddenDim: 8),
            classes: classes))
    }

    /// eps 5e-4: with 2e-3 a hypernetwork weight of the first configuration steps over a ReLU
    /// kink 6e-4 away (one-sided differences 1.085 / 1.198) without tripping the kink test.
    var check: GradientCheck {
        var check = GradientCheck(eps: 5e-4, atol: 2e-3, rtol: 2e-2, skipKinks: true)
        check.maxChecksPerInput = 3
        return check
    }

    /// Every trainable tensor through the full head: odd non-square grids, one and two images.
    func testBackwardFiniteDifferences() {
        for (classes, batch, height, width, depth, seed) in [(3, 2, 2, 3, 2, 200), (2, 1, 3, 1, 1, 201)] {
            let head = Self.tinyHead(classes: classes, depth: depth)
            let x = randomTensor([batch, head.inputChannels, height, width], seed: UInt64(seed))
            let (state, frozen) = head.initialState(seed: UInt64(seed))
            var workspace = head.makeWorkspace()
            func split(_ flat: [Float]) -> [Tensor] { head.layout.names.map { head.layout.tensor($0, in: flat) } }
            check.verify(
                "AutoSAM K=\(classes) B=\(batch) \(height)x\(width) depth \(depth)", inputs: split(state.params),
                forward: { t in
                    [head.forward(x, parameters: t.flatMap(\.data), frozen: frozen.values, workspace: &workspace)]
                },
                backward: { t, w in
                    let params = t.flatMap(\.data)
                    _ = head.forward(x, parameters: params, frozen: frozen.values, workspace: &workspace)
                    var grads = [Float](repeating: 0, count: params.count)
                    head.backward(w[0], parameters: params, frozen: frozen.values, gradients: &grads,
                                  workspace: &workspace)
                    return split(grads)
                })
        }
    }

    /// Head + bilinear resize to a rectangular label grid + CE/Dice, differentiated with respect
    /// to the tensors nearest the loss and the mask tokens (the head alone is checked above).
    func testLossChainWithResize() {
        let head = Self.tinyHead(classes: 3, depth: 1), labelSize = (7, 9)
        let x = randomTensor([2, head.inputChannels, 2, 2], seed: 210)
        let rng = CounterRNG(seed: 210, stream: 3)
        let labels = (0..<2 * 63).map { Int32(rng.uniformInt(UInt64($0), below: 3)) }
        let initial = head.initialState(seed: 210), frozen = initial.frozen
        var state = initial.trainable
        var step = HeadStep(head: head)
        let names = [AutoSAMHead.Key.maskTokens, AutoSAMHead.Key.upscaling + "3.weight",
                     AutoSAMHead.Key.hypernetwork(0) + "layers.2.weight"]
        func load(_ tensors: [Tensor]) {
            for (name, value) in zip(names, tensors) { state.setParameter(name, value) }
        }
        check.verify(
            "AutoSAM 8x8 -> 7x9 loss", inputs: names.map(state.parameter),
            forward: { t in
                load(t)
                let total = step.singleProcess(x, labels: labels, labelHeight: labelSize.0, labelWidth: labelSize.1,
                                               state: &state, frozen: frozen, backward: false).total
                return [Tensor(shape: [1], data: [Float(total)])]
            },
            backward: { t, w in
                load(t)
                _ = step.singleProcess(x, labels: labels, labelHeight: labelSize.0, labelWidth: labelSize.1,
                                       state: &state, frozen: frozen, backward: true)
                return names.map {
                    Tensor(shape: state.gradient($0).shape, data: state.gradient($0).data.map { $0 * w[0].data[0] })
                }
            })
    }

    /// A workspace re-sized for another batch gives what a fresh one gives.
    func testWorkspaceFollowsGeometry() {
        let head = Self.tinyHead(classes: 2)
        let (state, frozen) = head.initialState(seed: 5)
        let pair = randomTensor([2, 16, 3, 2], seed: 220)
        let single = Tensor(shape: [1, 16, 3, 2], data: Array(pair.data[96...]))
        var shared = head.makeWorkspace(), fresh = head.makeWorkspace()
        _ = head.forward(pair, state: state, frozen: frozen, workspace: &shared)
        let reused = head.forward(single, state: state, frozen: frozen, workspace: &shared)
        XCTAssertEqual(reused, head.forward(single, state: state, frozen: frozen, workspace: &fresh))
        XCTAssertEqual(reused.shape, [1, 2, 12, 8])
        XCTAssertEqual(shared.geometry, [1, 3, 2])
        XCTAssertEqual(shared.iouPredictions.shape, [1, 2])
    }

    /// The memory that grows with the grid: per image pixel, the workspace holds at most 11.5 (R, D)
    /// rows (R = B K) at B 2, K 4. The transformer saves ~7.3 of them, u1, dL/d src and the image
    /// ~2.5, one-row scratch the rest; before the upscaling and the image-to-token context were
    /// recomputed in backward and keys + PE held one unit, it was ~17 (1.3 GB peak at B4 K4 64^2).
    func testWorkspaceMemoryPerPixel() {
        let head = Self.tinyHead(classes: 4), batch = 2
        let (state, frozen) = head.initialState(seed: 6)
        func floats(grid: Int) -> Int {
            var workspace = head.makeWorkspace()
            _ = head.forward(randomTensor([batch, 16, grid, grid], seed: 221), state: state, frozen: frozen,
                             workspace: &workspace)
            return workspace.floatCount
        }
        let rows = batch * head.classes, addedPixels = 16 * 16 - 8 * 8
        let perPixelRow = Double(floats(grid: 16) - floats(grid: 8)) / Double(addedPixels * rows * head.inputChannels)
        XCTAssertLessThanOrEqual(perPixelRow, 11.5)
        XCTAssertGreaterThan(perPixelRow, 7, "the saved activations must be counted")
    }

    // MARK: - Training

    /// One fixed batch of synthetic embeddings whose labels follow the embedding grid (a class per
    /// 4x4 block, as the 4x upscaling can express): Adam drives the loss close to zero.
    func testOverfitsOneBatch() {
        let head = Self.tinyHead(classes: 3), (batch, grid) = (2, 3)
        let x = randomTensor([batch, head.inputChannels, grid, grid], seed: 230)
        let size = 4 * grid
        let labels = (0..<batch * size * size).map { i -> Int32 in
            let (b, y, xx) = (i / (size * size), i / size % size, i % size)
            return Int32((b + y / 4 + 2 * (xx / 4)) % 3)
        }
        let initial = head.initialState(seed: 230, lr: 1e-2), frozen = initial.frozen
        var state = initial.trainable
        var step = HeadStep(head: head)
        var losses: [Double] = []
        for _ in 0..<100 {
            losses.append(step.singleProcessStep(x, labels: labels, labelHeight: size, labelWidth: size,
                                                 state: &state, frozen: frozen).total)
        }
        XCTAssertGreaterThan(losses[0], 0.5)
        XCTAssertLessThan(losses.last!, 0.01, "loss went \(losses[0]) -> \(losses.last!)")
    }
}
