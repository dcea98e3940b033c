import XCTest
import Heads
import Optim
import Tensors
import TestSupport

/// Each head drives the loss of one fixed synthetic batch close to zero with Adam: forward,
/// bilinear resize to the label grid, CE + Dice, backward and the optimiser working together.
final class HeadOverfitTests: XCTestCase {
    /// Random embeddings (B, C, 4, 4) -> logits 16 x 16, resized to 12 x 12 labels. Each 4 x 4
    /// embedding cell gets a random class and its 3 x 3 label block carries it; the resize taps
    /// of that block stay inside the cell's 4 x 4 logits, so a perfect fit exists.
    struct Batch {
        let embeddings: Tensor
        let labels: [Int32]
        static let (grid, labelSize, batch) = (3, 9, 2)

        init(channels: Int, classes: Int, seed: UInt64) {
            let (g, l, b) = (Self.grid, Self.labelSize, Self.batch)
            embeddings = randomTensor([b, channels, g, g], seed: seed)
            let rng = CounterRNG(seed: seed, stream: 1)
            let cellClass = (0..<b * g * g).map { Int32(rng.uniformInt(UInt64($0), below: UInt64(classes))) }
            labels = (0..<b * l * l).map { i in
                let (image, y, x) = (i / (l * l), i / l % l, i % l)
                return cellClass[(image * g + y * g / l) * g + x * g / l]
            }
        }
    }

    func testCNNHeadDepth2Overfits() {
        overfit(CNNHead(inputChannels: 8, classes: 4, depth: 2, topChannel: 4), initSeed: 3, lr: 1e-2, steps: 150,
                "CNN k=2")
    }

    func testCNNHeadDepth4Overfits() {
        overfit(CNNHead(inputChannels: 8, classes: 4, depth: 4, topChannel: 2), initSeed: 3, lr: 1e-2, steps: 150,
                "CNN k=4")
    }

    /// The reference's final ReLU (quirk 8) leaves a class channel at exactly 0 on every pixel
    /// for many PyTorch-default inits of a small head (the bias dominates the small features);
    /// such a class gets no gradient and can never be fitted. Seed 5 leaves all four alive here.
    func testLinearHeadOverfits() {
        let head = LinearHead(inputChannels: 64, classes: 4)
        let batch = Batch(channels: head.inputChannels, classes: head.classes, seed: 77)
        var workspace = head.makeWorkspace()
        let logits = head.forward(batch.embeddings, state: head.initialState(seed: 5).trainable, frozen: .empty,
                                  workspace: &workspace)
        let plane = logits.shape[2] * logits.shape[3]
        for k in 0..<head.classes {
            let alive = (0..<Batch.batch).contains { b in
                logits.data[(b * head.classes + k) * plane ..< (b * head.classes + k + 1) * plane].contains { $0 > 0 }
            }
            XCTAssertTrue(alive, "class \(k) is dead at init: pick another init seed")
        }
        overfit(head, initSeed: 5, lr: 1e-2, steps: 150, "linear")
    }

    func overfit<H: SegmentationHead>(_ head: H, initSeed: UInt64, lr: Float, steps: Int, _ name: String,
                                      file: StaticString = #filePath, line: UInt = #line) {
        let batch = Batch(channels: head.inputChannels, classes: head.classes, seed: 77)
        var state = head.initialState(seed: initSeed, lr: lr).trainable
        var step = HeadStep(head: head)
        var losses = [Double]()
        for _ in 0..<steps {
            let parts = step.singleProcessStep(batch.embeddings, labels: batch.labels,
                                               labelHeight: Batch.labelSize, labelWidth: Batch.labelSize,
                                               state: &state, frozen: .empty)
            losses.append(parts.total)
        }
        XCTAssertEqual(state.adam.step, steps, file: file, line: line)
        XCTAssertGreaterThan(losses[0], 1.0, "\(name): the initial loss should be far from the optimum", file: file,
                             line: line)
        XCTAssertLessThan(losses[steps - 1], 0.05, "\(name): loss went \(losses[0]) -> \(losses[steps - 1])",
                          file: file, line: line)
    }
}
