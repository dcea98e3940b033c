import XCTest
import Layers
import Tensors
import TestSupport

/// Global average pooling (the SimCLR projection's input): direct means and gradients.
final class GlobalAveragePoolTests: XCTestCase {
    func pool(_ x: Tensor) -> Tensor {
        let (b, c) = (x.shape[0], x.shape[1]), p = x.count / (b * c)
        var y = Tensor(zeros: [b, c])
        x.withPointer { GlobalAveragePool.forward(y: &y.data, x: $0, batch: b, channels: c, pixels: p) }
        return y
    }

    func testMeansOfEveryPlane() {
        let x = Tensor(shape: [1, 2, 2, 3], data: [1, 2, 3, 4, 5, 6, -1, -1, -1, 2, 2, 2])
        XCTAssertEqual(pool(x).data, [3.5, 0.5])
        let single = randomTensor([3, 4, 1, 1], seed: 4)
        XCTAssertEqual(pool(single).data, single.data, "a 1 x 1 grid is the identity")
    }

    func testGradients() {
        for (i, shape) in [[1, 1, 1, 1], [2, 3, 5, 7], [3, 2, 4, 4]].enumerated() {
            let (b, c) = (shape[0], shape[1]), p = shape[2] * shape[3]
            GradientCheck(eps: 1e-2).verify("gap \(shape)", inputs: [randomTensor(shape, seed: 40 + UInt64(i))],
                                            forward: { t in
                [self.pool(t[0])]
            }, backward: { _, dy in
                var dx = Tensor(zeros: shape)
                dy[0].withPointer { GlobalAveragePool.backward(dx: &dx.data, dy: $0, batch: b, channels: c, pixels: p) }
                return [dx]
            })
        }
    }
}
