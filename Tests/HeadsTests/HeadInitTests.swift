import XCTest
import Heads
import Tensors
import TestSupport

/// PyTorch-default initialisation statistics, determinism, and the heads' geometry.
final class HeadInitTests: XCTestCase {
    /// Every tensor is U(-b, b) with b = 1/sqrt(fan_in) (fan_in from weight dim 1 times the kernel
    /// area, also for transposed convolutions), or the LayerNorm constants; the samples fill the
    /// range with the uniform's mean and variance.
    func testDefaultInitStatistics() {
        let cnn = CNNHead(inputChannels: 32, classes: 4, depth: 2, topChannel: 8)
        let linear = LinearHead(inputChannels: 64, classes: 4)
        let heads = [("CNN", cnn.layout, cnn.initialState(seed: 21).trainable.params),
                     ("linear", linear.layout, linear.initialState(seed: 21).trainable.params)]
        for (headName, layout, params) in heads {
            for entry in layout.entries {
                let values = layout.tensor(entry.name, in: params).data
                let name = "\(headName) \(entry.name)"
                if entry.name.contains("output_upscaling.1.") {
                    let constant: Float = entry.name.hasSuffix("weight") ? 1 : 0
                    XCTAssertTrue(values.allSatisfy { $0 == constant }, "\(name): LayerNorm init")
                    continue
                }
                let bound = 1 / Float(fanIn(entry.name, layout)).squareRoot()
                XCTAssertTrue(values.allSatisfy { abs($0) <= bound }, "\(name): outside +-\(bound)")
                guard values.count >= 500 else { continue }
                let mean = values.reduce(0, +) / Float(values.count)
                let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(values.count)
                let n = Float(values.count)
                XCTAssertLessThan(abs(mean), 4 * bound / (3 * n).squareRoot(), "\(name): mean \(mean)")
                // Sample variance of U(-b, b): b^2/3 with std about 0.3 b^2 / sqrt(n); 5 sigma.
                XCTAssertEqual(variance, bound * bound / 3, accuracy: 1.5 * bound * bound / n.squareRoot(),
                               "\(name): variance")
                XCTAssertGreaterThan(values.map(abs).max()!, 0.95 * bound, "\(name): range not filled")
            }
        }
    }

    /// fan_in per PyTorch: weight.size(1) * kh * kw, taken from the weight of the same module.
    func fanIn(_ name: String, _ layout: ParameterLayout) -> Int {
        let module = name.split(separator: ".").dropLast().joined(separator: ".")
        let weight = layout.entry(module + ".weight")!.shape
        return weight[1] * weight[2...].reduce(1, *)
    }

    func testInitIsDeterministicAndPerTensor() {
        let head = CNNHead(inputChannels: 8, classes: 3, depth: 2, topChannel: 4)
        let a = head.initialState(seed: 5).trainable, b = head.initialState(seed: 5).trainable
        XCTAssertEqual(a.params, b.params)
        XCTAssertNotEqual(a.params, head.initialState(seed: 6).trainable.params)
        // Same shape, different tensors: independent streams, not the same draws rescaled.
        XCTAssertEqual(a.parameter("mask_decoder.blocks.1.0.weight").shape,
                       a.parameter("mask_decoder.blocks.1.2.weight").shape)
        XCTAssertNotEqual(a.parameter("mask_decoder.blocks.1.0.weight"), a.parameter("mask_decoder.blocks.1.2.weight"))
        // A tensor's values depend on its name and the seed, not on the rest of the head.
        let deeper = CNNHead(inputChannels: 8, classes: 5, depth: 2, topChannel: 4).initialState(seed: 5).trainable
        XCTAssertEqual(deeper.parameter("mask_decoder.input_block.0.weight"),
                       a.parameter("mask_decoder.input_block.0.weight"))
        XCTAssertTrue(a.grads.allSatisfy { $0 == 0 })
        XCTAssertEqual(a.adam.step, 0)
    }

    /// Output grid per depth, faithful to the reference's `num_depth > 2 > i`: 4x for k = 2 and 4,
    /// 2x for k = 3, 8x for k = 5; channels halve through the blocks down to t.
    func testCNNGeometryPerDepth() {
        for (depth, scale) in [(2, 4), (3, 2), (4, 4), (5, 8)] {
            let head = CNNHead(inputChannels: 16, classes: 3, depth: depth, topChannel: 2)
            let size = head.outputSize(height: 5, width: 3)
            XCTAssertEqual(size.height, 5 * scale, "k=\(depth)")
            XCTAssertEqual(size.width, 3 * scale, "k=\(depth)")
            XCTAssertEqual(head.layout.entry("mask_decoder.input_block.0.weight")?.shape, [2 << depth, 16, 1, 1])
            XCTAssertEqual(head.layout.entry("mask_decoder.final.0.weight")?.shape, [2, 2, 3, 3])
            var workspace = head.makeWorkspace()
            let logits = head.forward(randomTensor([1, 16, 5, 3], seed: 1), state: head.initialState(seed: 1).trainable,
                                      frozen: .empty, workspace: &workspace)
            XCTAssertEqual(logits.shape, [1, 3, 5 * scale, 3 * scale], "k=\(depth)")
        }
    }

    /// The reference's final ReLU: the linear head's logits are never negative.
    func testLinearHeadLogitsAreNonNegative() {
        let head = LinearHead(inputChannels: 32, classes: 4)
        var workspace = head.makeWorkspace()
        let logits = head.forward(randomTensor([2, 32, 3, 3], seed: 2), state: head.initialState(seed: 2).trainable,
                                  frozen: .empty, workspace: &workspace)
        XCTAssertEqual(logits.shape, [2, 4, 12, 12])
        XCTAssertEqual(head.outputSize(height: 3, width: 3).height, 12)
        XCTAssertTrue(logits.data.allSatisfy { $0 >= 0 })
        XCTAssertTrue(logits.data.contains { $0 > 0 })
    }
}
