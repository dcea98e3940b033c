import XCTest
import Layers
import Tensors
import TestSupport

/// LayerNorm (last axis) and LayerNorm2d (channels of NCHW).
final class NormalizationTests: XCTestCase {
    struct Saved { var y: Tensor; var mean: [Float]; var rstd: [Float] }

    func layerNorm(_ x: Tensor, _ w: Tensor, _ b: Tensor, eps: Float) -> Saved {
        let c = w.count, n = x.count / c
        var s = Saved(y: Tensor(zeros: x.shape), mean: [Float](repeating: 0, count: n),
                      rstd: [Float](repeating: 0, count: n))
        x.withPointer { px in w.withPointer { pw in b.withPointer { pb in
            LayerNorm.forward(y: &s.y.data, mean: &s.mean, rstd: &s.rstd, x: px, weight: pw, bias: pb,
                              rows: n, features: c, eps: eps)
        } } }
        return s
    }

    /// x (B, C, H, W).
    func layerNorm2d(_ x: Tensor, _ w: Tensor, _ b: Tensor, eps: Float) -> Saved {
        let (nb, c, p) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
        var s = Saved(y: Tensor(zeros: x.shape), mean: [Float](repeating: 0, count: nb * p),
                      rstd: [Float](repeating: 0, count: nb * p))
        x.withPointer { px in w.withPointer { pw in b.withPointer { pb in
            LayerNorm2d.forward(y: &s.y.data, mean: &s.mean, rstd: &s.rstd, x: px, weight: pw, bias: pb,
                                batch: nb, channels: c, pixels: p, eps: eps)
        } } }
        return s
    }

    func testLayerNormMatchesNaiveTwinOnAwkwardShapes() {
        for (i, (n, c)) in [(1, 1), (5, 7), (3, 16), (2, 47), (7, 768)].enumerated() {
            let x = randomTensor([n, c], seed: 10 + UInt64(i), scale: 3)
            let w = randomTensor([c], seed: 20 + UInt64(i)), b = randomTensor([c], seed: 30 + UInt64(i))
            for eps: Float in [1e-6, 1e-5] {
                let fast = layerNorm(x, w, b, eps: eps).y
                let naive = NaiveElementwise.layerNorm(x.data, weight: w.data, bias: b.data, rows: n, features: c,
                                                       eps: eps)
                assertClose(fast.data, naive, atol: 2e-5, rtol: 1e-5, "layernorm n\(n) c\(c) eps\(eps)")
            }
        }
    }

    func testLayerNormInPlace() {
        let x = randomTensor([4, 21], seed: 1), w = randomTensor([21], seed: 2), b = randomTensor([21], seed: 3)
        let expected = layerNorm(x, w, b, eps: 1e-6).y
        var inPlace = x, mean = [Float](repeating: 0, count: 4), rstd = mean
        w.withPointer { pw in b.withPointer { pb in
            inPlace.withMutablePointer { p in
                LayerNorm.forward(y: p, mean: &mean, rstd: &rstd, x: p, weight: pw, bias: pb, rows: 4, features: 21,
                                  eps: 1e-6)
            }
        } }
        XCTAssertEqual(inPlace.data, expected.data)
    }

    func testLayerNormGradients() {
        for (i, (n, c)) in [(1, 1), (1, 5), (3, 2), (4, 19), (2, 37)].enumerated() {
            let seed = 40 + UInt64(i)
            let inputs = [randomTensor([n, c], seed: seed), randomTensor([c], seed: seed, stream: 1),
                          randomTensor([c], seed: seed, stream: 2)]
            GradientCheck(atol: 2e-3).verify("layernorm n\(n) c\(c)", inputs: inputs, forward: { t in
                [self.layerNorm(t[0], t[1], t[2], eps: 1e-5).y]
            }, backward: { t, dy in
                let s = self.layerNorm(t[0], t[1], t[2], eps: 1e-5)
                var dx = Tensor(zeros: t[0].shape), dw = Tensor(zeros: [c]), db = Tensor(zeros: [c])
                t[0].withPointer { px in t[1].withPointer { pw in dy[0].withPointer { pdy in
                    LayerNorm.backward(dx: &dx.data, dWeight: &dw.data, dBias: &db.data, dy: pdy, x: px,
                                       mean: s.mean, rstd: s.rstd, weight: pw, rows: n, features: c)
                } } }
                return [dx, dw, db]
            })
        }
    }

    /// LayerNorm2d equals LayerNorm applied to the NHWC permutation (two independent code paths).
    func testLayerNorm2dMatchesLayerNormOverChannels() {
        for (i, shape) in [[1, 1, 1, 1], [2, 3, 1, 5], [1, 32, 4, 5], [3, 7, 9, 1], [2, 64, 6, 6]].enumerated() {
            let x = randomTensor(shape, seed: 50 + UInt64(i), scale: 2)
            let w = randomTensor([shape[1]], seed: 60 + UInt64(i)), b = randomTensor([shape[1]], seed: 70 + UInt64(i))
            let fast = layerNorm2d(x, w, b, eps: 1e-6).y
            let nhwc = x.permuted([0, 2, 3, 1])
            let naive = NaiveElementwise.layerNorm(nhwc.data, weight: w.data, bias: b.data,
                                                   rows: x.count / shape[1], features: shape[1], eps: 1e-6)
            let expected = Tensor(shape: nhwc.shape, data: naive).permuted([0, 3, 1, 2])
            assertClose(fast.data, expected.data, atol: 2e-5, rtol: 1e-5, "layernorm2d \(shape)")
        }
    }

    func testLayerNorm2dGradients() {
        for (i, shape) in [[1, 1, 1, 1], [1, 3, 1, 1], [2, 2, 3, 1], [1, 5, 2, 3], [2, 4, 3, 3]].enumerated() {
            let seed = 80 + UInt64(i), c = shape[1]
            let inputs = [randomTensor(shape, seed: seed), randomTensor([c], seed: seed, stream: 1),
                          randomTensor([c], seed: seed, stream: 2)]
            GradientCheck(atol: 2e-3).verify("layernorm2d \(shape)", inputs: inputs, forward: { t in
                [self.layerNorm2d(t[0], t[1], t[2], eps: 1e-5).y]
            }, backward: { t, dy in
                let s = self.layerNorm2d(t[0], t[1], t[2], eps: 1e-5)
                var dx = Tensor(zeros: shape), dw = Tensor(zeros: [c]), db = Tensor(zeros: [c])
                t[0].withPointer { px in t[1].withPointer { pw in dy[0].withPointer { pdy in
                    LayerNorm2d.backward(dx: &dx.data, dWeight: &dw.data, dBias: &db.data, dy: pdy, x: px,
                                         mean: s.mean, rstd: s.rstd, weight: pw,
                                         batch: shape[0], channels: c, pixels: shape[2] * shape[3])
                } } }
                return [dx, dw, db]
            })
        }
    }

    /// Backward accumulates, and nil gradients are skipped.
    func testBackwardAccumulatesAndSkipsNil() {
        let (n, c) = (3, 6)
        let x = randomTensor([n, c], seed: 90), w = randomTensor([c], seed: 91), b = randomTensor([c], seed: 92)
        let dy = randomTensor([n, c], seed: 93)
        let s = layerNorm(x, w, b, eps: 1e-6)
        func run(_ dx: inout Tensor, _ dw: UnsafeMutablePointer<Float>?) {
            x.withPointer { px in w.withPointer { pw in dy.withPointer { pdy in
                LayerNorm.backward(dx: &dx.data, dWeight: dw, dBias: nil, dy: pdy, x: px,
                                   mean: s.mean, rstd: s.rstd, weight: pw, rows: n, features: c)
            } } }
        }
        var once = Tensor(zeros: [n, c]), twice = Tensor(zeros: [n, c])
        run(&once, nil)
        run(&twice, nil)
        run(&twice, nil)
        assertClose(twice.data, once.data.map { 2 * $0 }, atol: 1e-6, "accumulation")
    }
}
