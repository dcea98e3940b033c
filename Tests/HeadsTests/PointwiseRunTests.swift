import XCTest
import Heads
import Tensors
import TestSupport

/// Runs of 1x1 convolutions, ReLU and GELU execute tile by tile (`SequentialNetwork+Pointwise`);
/// they must compute what the layer-by-layer path computes (up to the summation order of the
/// parameter gradients) and give the same bits for any thread count. The grid (96 x 96, 8
/// channels) splits each image into a full and a partial tile.
final class PointwiseRunTests: XCTestCase {
    /// A run at the network's start (GELU keeping its derivative, no input gradient), a run after a
    /// transposed conv that starts with a ReLU (so the GELU recomputes its derivative), and a run
    /// behind LayerNorm2d (GELU keeping its derivative, input gradient formed). The other layers are
    /// ones whose results do not depend on the thread count either (banded transposed convolutions,
    /// LayerNorm2d); a 3x3 convolution would not be: OpenBLAS's Haswell kernels round its
    /// multi-threaded GEMM differently with 1 and 2 threads.
    let networks = [
        SequentialNetwork([.gelu, .conv("a", inChannels: 8, outChannels: 8, kernel: 1), .relu,
                           .conv("b", inChannels: 8, outChannels: 3, kernel: 1), .relu]),
        SequentialNetwork([.convTranspose("c", inChannels: 8, outChannels: 8), .relu, .gelu,
                           .conv("d", inChannels: 8, outChannels: 4, kernel: 1), .gelu]),
        SequentialNetwork([.convTranspose("e", inChannels: 8, outChannels: 4), .layerNorm2d("f", channels: 4), .gelu,
                           .conv("g", inChannels: 4, outChannels: 2, kernel: 1)]),
    ]

    func testFusedRunsMatchLayerByLayer() {
        defer { SequentialNetwork.fusesPointwiseRuns = true }
        for (n, network) in networks.enumerated() {
            SequentialNetwork.fusesPointwiseRuns = true
            let fused = pass(network, seed: UInt64(10 + n))
            SequentialNetwork.fusesPointwiseRuns = false
            let layered = pass(network, seed: UInt64(10 + n))
            XCTAssertGreaterThan(layered.gradients.map(abs).max() ?? 0, 0, "network \(n) has live gradients")
            assertClose(fused.output, layered.output, atol: 1e-6, rtol: 1e-5, "network \(n) output")
            assertClose(fused.gradients, layered.gradients, atol: 1e-4, rtol: 1e-4, "network \(n) gradients")
        }
    }

    func testFusedRunsGiveTheSameBitsForAnyThreadCount() {
        let before = BLASRuntime.threads
        defer { BLASRuntime.setThreads(before) }
        for (n, network) in networks.enumerated() {
            BLASRuntime.setThreads(1)
            let one = pass(network, seed: UInt64(20 + n))
            BLASRuntime.setThreads(2)
            let two = pass(network, seed: UInt64(20 + n))
            XCTAssertTrue(sameBits((one.output.data + one.gradients, two.output.data + two.gradients)),
                          "network \(n) depends on the thread count")
        }
    }

    /// Forward on a (2, 8, 96, 96) input and backward of a random upstream gradient.
    func pass(_ network: SequentialNetwork, seed: UInt64) -> (output: Tensor, gradients: [Float]) {
        let x = randomTensor([2, 8, 96, 96], seed: seed, scale: 2)
        let parameters = randomTensor([network.layout.totalCount], seed: seed, stream: 1, scale: 0.5).data
        let workspace = SequentialWorkspace()
        let y = network.forward(x, parameters: parameters, workspace: workspace)
        var gradients = [Float](repeating: 0, count: parameters.count)
        network.backward(randomTensor(y.shape, seed: seed, stream: 2), parameters: parameters,
                         gradients: &gradients, workspace: workspace)
        return (y, gradients)
    }
}
