import XCTest
import Layers
import Tensors
import TestSupport

/// The UNet baseline's layers: MaxPool2d, ChannelConcat, InstanceNorm2d.
final class BaselineLayerTests: XCTestCase {
    // MARK: MaxPool2d

    /// x (B, C, H, W) -> (y, indices).
    func maxPool(_ x: Tensor) -> (y: Tensor, indices: [Int32]) {
        let (b, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        var y = Tensor(zeros: [b, c, h / 2, w / 2])
        var indices = [Int32](repeating: -1, count: y.count)
        x.withPointer { px in
            MaxPool2d.forward(y: &y.data, indices: &indices, x: px, batch: b, channels: c, height: h, width: w)
        }
        return (y, indices)
    }

    func testMaxPoolOnHandMadeWindowsWithTiesNaNAndOddEdges() {
        // One 3 x 5 plane: the odd last row and column are dropped (floor mode).
        let plane: [Float] = [1, 7, 2, 2, 9,
                              3, 7, 2, 2, 9,
                              9, 9, 9, 9, 9]
        let (y, indices) = maxPool(Tensor(shape: [1, 1, 3, 5], data: plane))
        XCTAssertEqual(y.shape, [1, 1, 1, 2])
        XCTAssertEqual(y.data, [7, 2])
        XCTAssertEqual(indices, [1, 2], "ties go to the first element in row-major window order")
        let (withNaN, nanIndex) = maxPool(Tensor(shape: [1, 1, 2, 2], data: [5, 1, .nan, 8]))
        XCTAssertTrue(withNaN.data[0].isNaN, "NaN propagates as in PyTorch")
        XCTAssertEqual(nanIndex, [2])
    }

    func testMaxPoolMatchesDirectMaximumOnAwkwardShapes() {
        for (i, shape) in [[1, 1, 2, 2], [2, 3, 5, 7], [1, 4, 8, 6], [3, 1, 9, 2]].enumerated() {
            let x = randomTensor(shape, seed: 100 + UInt64(i))
            let (y, indices) = maxPool(x)
            let (h, w) = (shape[2], shape[3])
            for plane in 0..<(shape[0] * shape[1]) {
                for oy in 0..<(h / 2) {
                    for ox in 0..<(w / 2) {
                        let window = [(0, 0), (0, 1), (1, 0), (1, 1)].map {
                            x.data[plane * h * w + (2 * oy + $0.0) * w + 2 * ox + $0.1]
                        }
                        let o = (plane * (h / 2) + oy) * (w / 2) + ox
                        XCTAssertEqual(y.data[o], window.max()!, "\(shape) plane \(plane) (\(oy), \(ox))")
                        XCTAssertEqual(x.data[plane * h * w + Int(indices[o])], y.data[o])
                    }
                }
            }
        }
    }

    func testMaxPoolGradients() {
        for (i, shape) in [[1, 1, 2, 2], [1, 2, 3, 5], [2, 3, 4, 4], [1, 1, 7, 2]].enumerated() {
            let inputs = [randomTensor(shape, seed: 110 + UInt64(i))]
            GradientCheck(eps: 1e-3, skipKinks: true).verify("maxpool \(shape)", inputs: inputs, forward: { t in
                [self.maxPool(t[0]).y]
            }, backward: { t, dy in
                let indices = self.maxPool(t[0]).indices
                var dx = Tensor(zeros: shape)
                dy[0].withPointer { pdy in
                    MaxPool2d.backward(dx: &dx.data, dy: pdy, indices: indices, batch: shape[0], channels: shape[1],
                                       height: shape[2], width: shape[3])
                }
                return [dx]
            })
        }
    }

    // MARK: ChannelConcat

    func concat(_ a: Tensor, _ b: Tensor) -> Tensor {
        let (n, ca, cb, p) = (a.shape[0], a.shape[1], b.shape[1], a.shape[2] * a.shape[3])
        var y = Tensor(zeros: [n, ca + cb, a.shape[2], a.shape[3]])
        a.withPointer { pa in b.withPointer { pb in
            ChannelConcat.forward(y: &y.data, a: pa, b: pb, batch: n, channelsA: ca, channelsB: cb, pixels: p)
        } }
        return y
    }

    func testConcatPlacesChannelsInOrder() {
        let a = Tensor(shape: [2, 1, 1, 2], data: [1, 2, 3, 4])
        let b = Tensor(shape: [2, 2, 1, 2], data: [10, 20, 30, 40, 50, 60, 70, 80])
        XCTAssertEqual(concat(a, b).data, [1, 2, 10, 20, 30, 40, 3, 4, 50, 60, 70, 80])
    }

    func testConcatGradients() {
        for (i, (n, ca, cb, h, w)) in [(1, 1, 1, 1, 1), (2, 3, 1, 2, 3), (3, 2, 5, 1, 4)].enumerated() {
            let inputs = [randomTensor([n, ca, h, w], seed: 120 + UInt64(i)),
                          randomTensor([n, cb, h, w], seed: 130 + UInt64(i))]
            GradientCheck().verify("concat \(n) \(ca) \(cb) \(h)x\(w)", inputs: inputs, forward: { t in
                [self.concat(t[0], t[1])]
            }, backward: { t, dy in
                var da = Tensor(zeros: t[0].shape), db = Tensor(zeros: t[1].shape)
                dy[0].withPointer { pdy in
                    ChannelConcat.backward(da: &da.data, db: &db.data, dy: pdy, batch: n, channelsA: ca, channelsB: cb,
                                           pixels: h * w)
                }
                return [da, db]
            })
        }
    }

    // MARK: InstanceNorm2d

    struct Normalised { var y: Tensor; var mean: [Float]; var rstd: [Float] }

    func instanceNorm(_ x: Tensor, _ w: Tensor, _ b: Tensor) -> Normalised {
        let (n, c, p) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
        var s = Normalised(y: Tensor(zeros: x.shape), mean: [Float](repeating: 0, count: n * c),
                           rstd: [Float](repeating: 0, count: n * c))
        x.withPointer { px in w.withPointer { pw in b.withPointer { pb in
            InstanceNorm2d.forward(y: &s.y.data, mean: &s.mean, rstd: &s.rstd, x: px, weight: pw, bias: pb,
                                   batch: n, channels: c, pixels: p)
        } } }
        return s
    }

    /// Instance norm equals the naive LayerNorm over each (b, c) plane followed by the affine map.
    func testInstanceNormMatchesNaiveLayerNormPerPlane() {
        for (i, shape) in [[1, 1, 1, 2], [2, 3, 5, 7], [1, 4, 16, 17], [3, 2, 1, 9]].enumerated() {
            let (n, c, p) = (shape[0], shape[1], shape[2] * shape[3])
            let x = randomTensor(shape, seed: 140 + UInt64(i), scale: 3)
            let w = randomTensor([c], seed: 150 + UInt64(i)), b = randomTensor([c], seed: 160 + UInt64(i))
            let plain = NaiveElementwise.layerNorm(x.data, weight: [Float](repeating: 1, count: p),
                                                   bias: [Float](repeating: 0, count: p), rows: n * c, features: p,
                                                   eps: 1e-5)
            let expected = plain.indices.map { plain[$0] * w.data[($0 / p) % c] + b.data[($0 / p) % c] }
            assertClose(instanceNorm(x, w, b).y.data, expected, atol: 2e-5, rtol: 1e-5, "instancenorm \(shape)")
        }
    }

    func testInstanceNormIsIndependentOfTheOtherImagesInTheBatch() {
        let x = randomTensor([3, 2, 4, 4], seed: 170)
        let w = randomTensor([2], seed: 171), b = randomTensor([2], seed: 172)
        let alone = instanceNorm(Tensor(shape: [1, 2, 4, 4], data: Array(x.data[32..<64])), w, b).y
        XCTAssertEqual(Array(instanceNorm(x, w, b).y.data[32..<64]), alone.data)
    }

    func testInstanceNormGradients() {
        for (i, shape) in [[1, 1, 1, 2], [1, 3, 1, 1], [2, 2, 3, 1], [1, 5, 2, 3], [2, 4, 3, 3]].enumerated() {
            let seed = 180 + UInt64(i), c = shape[1]
            let inputs = [randomTensor(shape, seed: seed), randomTensor([c], seed: seed, stream: 1),
                          randomTensor([c], seed: seed, stream: 2)]
            GradientCheck(atol: 2e-3).verify("instancenorm \(shape)", inputs: inputs, forward: { t in
                [self.instanceNorm(t[0], t[1], t[2]).y]
            }, backward: { t, dy in
                let s = self.instanceNorm(t[0], t[1], t[2])
                var dx = Tensor(zeros: shape), dw = Tensor(zeros: [c]), db = Tensor(zeros: [c])
                t[0].withPointer { px in t[1].withPointer { pw in dy[0].withPointer { pdy in
                    InstanceNorm2d.backward(dx: &dx.data, dWeight: &dw.data, dBias: &db.data, dy: pdy, x: px,
                                            mean: s.mean, rstd: s.rstd, weight: pw,
                                            batch: shape[0], channels: c, pixels: shape[2] * shape[3])
                } } }
                return [dx, dw, db]
            })
        }
    }
}
