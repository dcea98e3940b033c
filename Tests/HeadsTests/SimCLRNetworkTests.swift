import XCTest
@testable import Heads
import Layers
import Tensors
import TestSupport

/// The SimCLR pretraining network: the UNet's encoder path as a prefix of its parameters, the
/// projection MLP, and the whole backward against finite differences.
final class SimCLRNetworkTests: XCTestCase {
    func testEncoderIsAPrefixOfTheUNetWithTheSameInitialValues() {
        let unet = UNet(classes: 3, width: 4, levels: 2)
        let net = SimCLRNetwork(unet: unet, projectionDim: 5)
        XCTAssertEqual(net.hidden, 16, "hidden width defaults to the bottleneck's channels")
        let encoderNames = unet.layout.names.filter { $0.hasPrefix("encoders.") }
        XCTAssertEqual(unet.encoderEntries.map(\.name), encoderNames)
        XCTAssertEqual(Array(net.layout.names.prefix(encoderNames.count)), encoderNames)
        XCTAssertEqual(Array(net.layout.names.suffix(4)),
                       ["projection.0.weight", "projection.0.bias", "projection.2.weight", "projection.2.bias"])
        XCTAssertEqual(net.layout.entry("projection.0.weight")?.shape, [16, 16])
        XCTAssertEqual(net.layout.entry("projection.2.weight")?.shape, [5, 16])
        let fromUNet = unet.initialState(seed: 7).trainable, params = net.initialParameters(seed: 7)
        for (name, tensor) in net.encoderTensors(params) {
            XCTAssertEqual(tensor, fromUNet.parameter(name), name)
        }
        let wide = SimCLRNetwork(unet: unet, projectionHidden: 9, projectionDim: 5)
        XCTAssertEqual(wide.layout.entry("projection.0.weight")?.shape, [9, 16])
    }

    /// The encoder-only pass computes exactly the full UNet's bottleneck value.
    func testEncoderPassEqualsTheFullForwardBottleneck() {
        let unet = UNet(classes: 2, width: 3, levels: 2)
        let params = unet.initialState(seed: 3).trainable.params
        let x = randomTensor([2, 3, 12, 8], seed: 4)
        var full = unet.makeWorkspace(), encoder = unet.makeWorkspace()
        _ = unet.forward(x, parameters: params, frozen: [], workspace: &full)
        let count = full.count(ofValue: unet.bottleneckValue)
        XCTAssertEqual(count, 2 * 12 * 3 * 2)
        let expected = Array(UnsafeBufferPointer(start: full.values[unet.bottleneckValue].pointer, count: count))
        let bottleneck = params.withUnsafeBufferPointer {
            unet.forwardEncoder(x, parameters: $0.baseAddress!, workspace: &encoder)
        }
        XCTAssertEqual(Array(UnsafeBufferPointer(start: bottleneck, count: count)), expected)
        XCTAssertEqual(encoder.values.last?.count, 0, "decoder values are not allocated for the encoder pass")
    }

    func testBackwardMatchesFiniteDifferences() {
        checkBackward(SimCLRNetwork(unet: UNet(classes: 2, width: 2, levels: 1), projectionDim: 3),
                      shape: [3, 3, 8, 6], seed: 5)
        checkBackward(SimCLRNetwork(unet: UNet(classes: 2, width: 2, levels: 1), projectionHidden: 5, projectionDim: 2),
                      shape: [1, 3, 4, 4], seed: 6)
    }

    func checkBackward(_ net: SimCLRNetwork, shape: [Int], seed: UInt64, file: StaticString = #filePath,
                       line: UInt = #line) {
        let x = randomTensor(shape, seed: seed)
        let params = net.initialParameters(seed: seed)
        var workspace = SimCLRWorkspace()
        func split(_ buffer: [Float]) -> [Tensor] { net.layout.names.map { net.layout.tensor($0, in: buffer) } }
        var check = GradientCheck(eps: 3e-4, atol: 5e-3, rtol: 2e-2, skipKinks: true)
        check.maxChecksPerInput = 6
        check.verify(
            "simclr \(shape)", inputs: split(params),
            forward: { t in [net.forward(x, parameters: t.flatMap(\.data), workspace: &workspace)] },
            backward: { t, w in
                let flat = t.flatMap(\.data)
                _ = net.forward(x, parameters: flat, workspace: &workspace)
                var grads = [Float](repeating: 0, count: flat.count)
                w[0].withPointer { net.backward($0, parameters: flat, gradients: &grads, workspace: &workspace) }
                return split(grads)
            },
            file: file, line: line)
    }
}
