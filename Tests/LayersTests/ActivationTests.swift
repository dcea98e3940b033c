import XCTest
import Layers
import Tensors
import TestSupport

/// GELU, ReLU and the last-axis Softmax.
final class ActivationTests: XCTestCase {
    typealias Unary = (UnsafeMutablePointer<Float>, UnsafePointer<Float>, Int) -> Void

    func apply(_ x: Tensor, _ f: Unary) -> Tensor {
        var y = Tensor(zeros: x.shape)
        x.withPointer { px in f(&y.data, px, x.count) }
        return y
    }

    func gelu(_ x: Tensor) -> Tensor { apply(x) { GELU.forward(y: $0, x: $1, count: $2) } }
    func relu(_ x: Tensor) -> Tensor { apply(x) { ReLU.forward(y: $0, x: $1, count: $2) } }

    func softmax(_ x: Tensor) -> Tensor {
        let l = x.shape.last!
        return apply(x) { Softmax.forward(y: $0, x: $1, rows: $2 / l, length: l) }
    }

    func testGELUMatchesNaiveTwin() {
        // A dense sweep over the range where the output is a normal float, plus odd-sized random data.
        let sweep = Tensor(shape: [200_001], data: (0...200_000).map { Float(-13 + 23 * Double($0) / 200_000) })
        for x in [sweep, randomTensor([1], seed: 1, scale: 3), randomTensor([37], seed: 2, scale: 3)] {
            let y = gelu(x)
            var worst = 0.0
            for i in 0..<x.count {
                let e = NaiveElementwise.gelu(x.data[i])
                guard abs(e) > 1e-37 else { continue }
                worst = max(worst, abs(Double(y.data[i]) - e) / abs(e))
            }
            XCTAssertLessThan(worst, 1e-6, "GELU relative error over \(x.count) points")
        }
        XCTAssertEqual(gelu(Tensor(shape: [3], data: [0, -20, 20])).data, [0, 0, 20])
    }

    func testGELUDerivativeMatchesNaiveTwin() {
        let x = Tensor(shape: [20_001], data: (0...20_000).map { Float(-12 + 22 * Double($0) / 20_000) })
        let ones = Tensor(repeating: 1, shape: x.shape)
        var dx = Tensor(zeros: x.shape)
        x.withPointer { px in ones.withPointer { pdy in GELU.backward(dx: &dx.data, dy: pdy, x: px, count: x.count) } }
        let naive = x.data.map { Float(NaiveElementwise.geluDerivative($0)) }
        assertClose(dx.data, naive, atol: 1e-7, rtol: 1e-6, "GELU derivative")
    }

    /// The variants that keep the derivative (in place of the input), scale a gradient by it, or
    /// compute it tile by tile give the same values as `forward` and `backward`.
    func testGELUVariantsMatchForwardAndBackward() {
        let x = randomTensor([70_001], seed: 9, scale: 4), dy = randomTensor([70_001], seed: 10)
        let y = gelu(x)
        var dx = Tensor(zeros: x.shape)
        x.withPointer { px in dy.withPointer { GELU.backward(dx: &dx.data, dy: $0, x: px, count: x.count) } }
        var kept = x.data, keptY = [Float](repeating: 0, count: x.count), serialY = keptY
        GELU.forwardKeepingDerivative(y: &keptY, x: &kept, count: x.count)
        GELU.forwardSerial(y: &serialY, x: x.data, count: x.count)
        var product = dy.data, scaled = dy.data, accumulated = [Float](repeating: 0, count: x.count)
        GELU.scaleByKeptDerivative(&product, derivative: kept, count: x.count)
        GELU.scaleByDerivative(&scaled, x: x.data, count: x.count)
        GELU.backward(dx: &accumulated, dy: dy.data, derivative: kept, count: x.count)
        for (name, values) in [("kept y", keptY), ("serial y", serialY)] {
            XCTAssertTrue(sameBits((values, y.data)), name)
        }
        for (name, values) in [("kept product", product), ("serial scale", scaled), ("kept backward", accumulated)] {
            XCTAssertTrue(values == dx.data, name)   // == : a product may be -0 where 0 + product is +0
        }
    }

    func testGELUGradients() {
        for (i, n) in [1, 2, 9, 33].enumerated() {
            GradientCheck().verify("gelu \(n)", inputs: [randomTensor([n], seed: 3 + UInt64(i), scale: 2)],
                                   forward: { [self.gelu($0[0])] }, backward: { t, dy in
                var dx = Tensor(zeros: t[0].shape)
                t[0].withPointer { px in
                    dy[0].withPointer { pdy in GELU.backward(dx: &dx.data, dy: pdy, x: px, count: n) }
                }
                return [dx]
            })
        }
    }

    func testReLUForwardAndGradients() {
        let x = Tensor(shape: [5], data: [-2, -0.0, 0, 0.5, 3])
        XCTAssertEqual(relu(x).data, [0, 0, 0, 0.5, 3])
        XCTAssertTrue(relu(Tensor(shape: [1], data: [.nan])).data[0].isNaN)
        for (i, n) in [1, 4, 17, 50].enumerated() {
            // Values within the finite-difference step of the kink would straddle it with a small
            // one-sided disagreement: keep them away, but put exact zeros in (skipped as kinks).
            var x = randomTensor([n], seed: 9 + UInt64(i))
            x.data = x.data.enumerated().map { j, v in j % 5 == 4 ? 0 : v + (v < 0 ? -0.05 : 0.05) }
            GradientCheck(skipKinks: true).verify("relu \(n)", inputs: [x],
                                                  forward: { [self.relu($0[0])] }, backward: { t, dy in
                let y = self.relu(t[0])
                var dx = Tensor(zeros: t[0].shape)
                y.withPointer { py in
                    dy[0].withPointer { pdy in ReLU.backward(dx: &dx.data, dy: pdy, y: py, count: n) }
                }
                return [dx]
            })
        }
    }

    /// Gradient exactly 0 at x <= 0, including the kink x = 0 itself.
    func testReLUBackwardAtKink() {
        let x = Tensor(shape: [3], data: [0, -1, 2]), dy = Tensor(shape: [3], data: [5, 5, 5])
        var dx = Tensor(shape: [3], data: [1, 1, 1])
        x.withPointer { px in dy.withPointer { pdy in ReLU.backward(dx: &dx.data, dy: pdy, y: px, count: 3) } }
        XCTAssertEqual(dx.data, [1, 1, 6])
    }

    func testSoftmaxMatchesNaiveTwinOnAwkwardShapes() {
        for (i, (n, l)) in [(1, 1), (3, 1), (2, 7), (5, 16), (3, 17), (2, 196), (1, 4096)].enumerated() {
            let x = randomTensor([n, l], seed: 20 + UInt64(i), scale: 8)
            assertClose(softmax(x).data, NaiveElementwise.softmax(x.data, rows: n, length: l),
                        atol: 1e-7, rtol: 2e-6, "softmax \(n)x\(l)")
        }
        // Large offsets and a row that underflows almost everywhere.
        let shifted = Tensor(shape: [2, 3], data: [1000, 1001, 1002, -1e4, 0, -200])
        assertClose(softmax(shifted).data, NaiveElementwise.softmax(shifted.data, rows: 2, length: 3),
                    atol: 1e-7, rtol: 2e-6, "softmax extreme")
    }

    func testSoftmaxInPlace() {
        let x = randomTensor([3, 21], seed: 30)
        var inPlace = x
        inPlace.withMutablePointer { p in Softmax.forward(y: p, x: p, rows: 3, length: 21) }
        XCTAssertEqual(inPlace.data, softmax(x).data)
    }

    func testSoftmaxGradients() {
        for (i, (n, l)) in [(1, 1), (2, 3), (1, 16), (3, 19)].enumerated() {
            GradientCheck().verify("softmax \(n)x\(l)", inputs: [randomTensor([n, l], seed: 40 + UInt64(i), scale: 2)],
                                   forward: { [self.softmax($0[0])] }, backward: { t, dy in
                let y = self.softmax(t[0])
                var dx = Tensor(zeros: t[0].shape)
                y.withPointer { py in dy[0].withPointer { pdy in
                    Softmax.backward(dx: &dx.data, dy: pdy, y: py, rows: n, length: l)
                } }
                return [dx]
            })
        }
    }

    func testReductionsMatchSequentialLoops() {
        for n in [1, 2, 15, 16, 17, 33, 100] {
            let a = randomTensor([n], seed: UInt64(n)), b = randomTensor([n], seed: UInt64(n), stream: 1)
            a.withPointer { pa in b.withPointer { pb in
                XCTAssertEqual(FastMath.sum(pa, count: n), a.data.reduce(0, +), accuracy: 1e-5 * Float(n))
                XCTAssertEqual(FastMath.dot(pa, pb, count: n), zip(a.data, b.data).map(*).reduce(0, +),
                               accuracy: 1e-5 * Float(n))
                XCTAssertEqual(FastMath.sumOfSquaredDeviations(pa, from: 0.25, count: n),
                               a.data.map { ($0 - 0.25) * ($0 - 0.25) }.reduce(0, +), accuracy: 1e-5 * Float(n))
                XCTAssertEqual(FastMath.maximum(pa, count: n), a.data.max()!)
            } }
        }
    }
}
