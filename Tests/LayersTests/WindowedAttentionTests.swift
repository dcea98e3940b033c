import XCTest
import Tensors
import TestSupport
import Layers

/// `EncoderAttention.forwardWindowed` (projections on the real tokens only) against the reference
/// order: partition with zero padding, `forward` on every window position, unpartition.
final class WindowedAttentionTests: XCTestCase {
    struct Case { var images, height, width, window, channels, heads: Int; var qkvBias: Bool }
    let cases = [Case(images: 2, height: 5, width: 7, window: 3, channels: 8, heads: 2, qkvBias: true),
                 Case(images: 1, height: 6, width: 6, window: 3, channels: 4, heads: 1, qkvBias: true),
                 Case(images: 1, height: 4, width: 5, window: 4, channels: 6, heads: 3, qkvBias: false),
                 Case(images: 1, height: 2, width: 2, window: 5, channels: 4, heads: 2, qkvBias: true)]

    func testMatchesPartitionForwardUnpartition() {
        for (n, k) in cases.enumerated() {
            let grid = EncoderAttention.Grid(images: k.images, height: k.height, width: k.width, window: k.window)
            let shape = EncoderAttention.Shape(batch: grid.windows, height: k.window, width: k.window,
                                               channels: k.channels, heads: k.heads, useRelativePosition: true)
            let c = k.channels, seed = UInt64(140 + n)
            let inputs = [randomTensor([grid.tokens, c], seed: seed), randomTensor([3 * c, c], seed: seed, stream: 1),
                          randomTensor([3 * c], seed: seed, stream: 2), randomTensor([c, c], seed: seed, stream: 3),
                          randomTensor([c], seed: seed, stream: 4),
                          randomTensor([2 * k.window - 1, shape.headDim], seed: seed, stream: 5),
                          randomTensor([2 * k.window - 1, shape.headDim], seed: seed, stream: 6)]
            func parameters(_ i: [UnsafePointer<Float>]) -> EncoderAttention.Parameters {
                .init(qkvWeight: i[1], qkvBias: k.qkvBias ? i[2] : nil, projWeight: i[3], projBias: i[4],
                      relPosH: i[5], relPosW: i[6])
            }
            let outputs = [Tensor(repeating: .nan, shape: [grid.tokens, c]),
                           Tensor(repeating: .nan, shape: [shape.rows, 3 * c])]
            let reference = runKernel(inputs, outputs: outputs + [Tensor(zeros: [shape.rows, c]),
                                                                  Tensor(zeros: [shape.rows, c]),
                                                                  Tensor(zeros: [shape.rows, c])]) { i, o in
                WindowPartition.partition(windows: o[2], tokens: i[0], batch: k.images, height: k.height,
                                          width: k.width, channels: c, window: k.window)
                EncoderAttention.forward(y: o[3], x: o[2], parameters: parameters(i), shape: shape,
                                         saved: .init(qkv: o[1], context: o[4]))
                WindowPartition.unpartition(tokens: o[0], windows: o[3], batch: k.images, height: k.height,
                                            width: k.width, channels: c, window: k.window)
            }
            let tokenScratch = [Tensor(repeating: .nan, shape: [grid.tokens, 3 * c]),
                                Tensor(repeating: .nan, shape: [grid.tokens, c]),
                                Tensor(repeating: .nan, shape: [shape.rows, c])]
            let windowed = runKernel(inputs, outputs: outputs + tokenScratch) { i, o in
                EncoderAttention.forwardWindowed(y: o[0], x: i[0], parameters: parameters(i), shape: shape,
                                                 grid: grid, saved: .init(qkv: o[1], context: o[4]),
                                                 scratch: .init(qkv: o[2], context: o[3]))
            }
            assertClose(windowed[0], reference[0], atol: 1e-5, "case \(n): output")
            assertClose(windowed[1], reference[1], atol: 1e-5, "case \(n): qkv, padded rows = bias")
        }
    }
}
