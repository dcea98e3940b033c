import XCTest
import Layers
import Tensors
import TestSupport

/// BilinearResize against PyTorch's `F.interpolate(bilinear, align_corners=False)` fixtures,
/// the double-precision naive twin, and finite differences.
final class BilinearTests: XCTestCase {
    /// x (B, C, H, W) -> (B, C, oh, ow).
    func resize(_ x: Tensor, _ oh: Int, _ ow: Int) -> Tensor {
        let (b, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        var y = Tensor(zeros: [b, c, oh, ow])
        x.withPointer { px in
            BilinearResize.forward(y: &y.data, x: px, planes: b * c, height: h, width: w, outHeight: oh, outWidth: ow)
        }
        return y
    }

    func checkFixture(_ input: String, _ output: String) throws {
        let file = try Fixtures.file("preprocess")
        let x = try file.tensor(input), expected = try file.tensor(output)
        XCTAssertEqual(x.shape.count, 4)
        XCTAssertEqual(Array(expected.shape.prefix(2)), Array(x.shape.prefix(2)), "\(output) planes")
        let y = resize(x, expected.shape[2], expected.shape[3])
        assertClose(y, expected, atol: Fixtures.suggestedAtol("preprocess", output), rtol: 1e-4, output)
    }

    func testUpsamplingMatchesPyTorch() throws {
        try checkFixture("interp_up_in", "interp_up_out")
    }

    func testDownsamplingMatchesPyTorch() throws {
        try checkFixture("interp_down_in", "interp_down_out")
    }

    func testMatchesNaiveTwinOnAwkwardShapes() {
        let cases: [([Int], Int, Int)] = [
            ([1, 1, 1, 1], 1, 1), ([1, 1, 1, 1], 3, 5), ([2, 3, 4, 5], 1, 1), ([1, 2, 7, 3], 13, 2),
            ([1, 1, 9, 11], 4, 5), ([2, 1, 5, 5], 5, 5), ([1, 3, 14, 14], 64, 64), ([1, 1, 32, 17], 28, 29),
        ]
        for (i, (shape, oh, ow)) in cases.enumerated() {
            let x = randomTensor(shape, seed: 100 + UInt64(i))
            let naive = NaiveElementwise.bilinearResize(x.data, planes: shape[0] * shape[1], height: shape[2],
                                                        width: shape[3], outHeight: oh, outWidth: ow)
            // The kernel computes source coordinates in float like PyTorch (an ulp of ~16 is 2e-6).
            assertClose(resize(x, oh, ow).data, naive, atol: 2e-5, rtol: 1e-5, "\(shape) -> \(oh)x\(ow)")
        }
    }

    /// Same size is the identity; a constant image stays constant.
    func testIdentityAndConstant() {
        let x = randomTensor([2, 2, 5, 7], seed: 7)
        XCTAssertEqual(resize(x, 5, 7).data, x.data)
        let constant = Tensor(repeating: 0.75, shape: [1, 1, 6, 4])
        assertClose(resize(constant, 11, 3).data, [Float](repeating: 0.75, count: 33), atol: 1e-7, "constant")
    }

    func testGradients() {
        let cases: [([Int], Int, Int)] = [([1, 1, 1, 1], 2, 3), ([1, 2, 3, 1], 5, 2), ([2, 1, 4, 5], 2, 3),
                                          ([1, 1, 5, 4], 9, 7)]
        for (i, (shape, oh, ow)) in cases.enumerated() {
            GradientCheck().verify("bilinear \(shape) -> \(oh)x\(ow)",
                                   inputs: [randomTensor(shape, seed: 200 + UInt64(i))],
                                   forward: { [self.resize($0[0], oh, ow)] }, backward: { t, dy in
                var dx = Tensor(zeros: shape)
                dy[0].withPointer { pdy in
                    BilinearResize.backward(dx: &dx.data, dy: pdy, planes: shape[0] * shape[1], height: shape[2],
                                            width: shape[3], outHeight: oh, outWidth: ow)
                }
                return [dx]
            })
        }
    }
}
