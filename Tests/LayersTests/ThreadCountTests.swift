import Layers
import Tensors
import TestSupport
import XCTest

/// The layers whose element work runs on several cores (`RowParallel`) give the same bits whether
/// that work is split or not: each row is computed by one thread with the same arithmetic, and
/// reductions across rows are added in a fixed order. BLAS keeps 2 threads in both runs (OpenBLAS's
/// own GEMM results may depend on its thread count with some kernel families). Sizes are above the
/// hand-off threshold.
final class ThreadCountTests: XCTestCase {
    func assertSameBits(_ result: (serial: [Float], split: [Float]), _ name: String) {
        XCTAssertTrue(sameBits(result), "\(name) depends on how its element work is split")
    }

    func testGELU() {
        let x = randomTensor([3, 70_001], seed: 1, scale: 3), dy = randomTensor([3, 70_001], seed: 2)
        assertSameBits(resultsSerialAndSplit {
            var y = [Float](repeating: 0, count: x.count), dx = [Float](repeating: 0.5, count: x.count)
            GELU.forward(y: &y, x: x.data, count: x.count)
            GELU.backward(dx: &dx, dy: dy.data, x: x.data, count: x.count)
            return y + dx
        }, "GELU")
    }

    func testLayerNorm2d() {
        let (b, c, p) = (4, 16, 4096)
        let x = randomTensor([b, c, p], seed: 3, scale: 2), dy = randomTensor([b, c, p], seed: 4)
        let w = randomTensor([c], seed: 5), bias = randomTensor([c], seed: 6)
        assertSameBits(resultsSerialAndSplit {
            var y = [Float](repeating: 0, count: x.count), dx = [Float](repeating: 0, count: x.count)
            var mean = [Float](repeating: 0, count: b * p), rstd = mean
            var dW = [Float](repeating: 0.25, count: c), dB = dW
            LayerNorm2d.forward(y: &y, mean: &mean, rstd: &rstd, x: x.data, weight: w.data, bias: bias.data,
                                batch: b, channels: c, pixels: p, eps: 1e-6)
            LayerNorm2d.backward(dx: &dx, dWeight: &dW, dBias: &dB, dy: dy.data, x: x.data, mean: mean, rstd: rstd,
                                 weight: w.data, batch: b, channels: c, pixels: p)
            return y + dx + dW + dB + mean + rstd
        }, "LayerNorm2d")
    }

    func testLayerNorm() {
        let (n, c) = (2500, 48)
        let x = randomTensor([n, c], seed: 17, scale: 2), dy = randomTensor([n, c], seed: 18)
        let w = randomTensor([c], seed: 19), bias = randomTensor([c], seed: 20)
        assertSameBits(resultsSerialAndSplit {
            var y = [Float](repeating: 0, count: x.count), dx = [Float](repeating: 0, count: x.count)
            var mean = [Float](repeating: 0, count: n), rstd = mean
            var dW = [Float](repeating: 0.25, count: c), dB = dW
            LayerNorm.forward(y: &y, mean: &mean, rstd: &rstd, x: x.data, weight: w.data, bias: bias.data,
                              rows: n, features: c, eps: 1e-5)
            LayerNorm.backward(dx: &dx, dWeight: &dW, dBias: &dB, dy: dy.data, x: x.data, mean: mean, rstd: rstd,
                               weight: w.data, rows: n, features: c)
            return y + dx + dW + dB + mean + rstd
        }, "LayerNorm")
    }

    func testConvTranspose2d() {
        let (b, i, o, h, w) = (2, 8, 16, 32, 32)
        let x = randomTensor([b, i, h, w], seed: 7), weight = randomTensor([i, o, 2, 2], seed: 8)
        let bias = randomTensor([o], seed: 9), dy = randomTensor([b, o, 2 * h, 2 * w], seed: 10)
        assertSameBits(resultsSerialAndSplit {
            var y = [Float](repeating: 0, count: dy.count), dx = [Float](repeating: 0, count: x.count)
            var dW = [Float](repeating: 0, count: weight.count), dB = [Float](repeating: 0, count: o)
            ConvTranspose2d.forward(y: &y, x: x.data, weight: weight.data, bias: bias.data, batch: b, inChannels: i,
                                    outChannels: o, height: h, width: w)
            ConvTranspose2d.backward(dx: &dx, dWeight: &dW, dBias: &dB, dy: dy.data, x: x.data, weight: weight.data,
                                     batch: b, inChannels: i, outChannels: o, height: h, width: w)
            return y + dx + dW + dB
        }, "ConvTranspose2d")
    }

    /// Bands run one per core with one BLAS thread each, and the weight gradient's band partials are
    /// added in band order: the BLAS thread count does not change the bits either.
    func testConvTranspose2dBandsWithAnyBLASThreadCount() {
        let (b, i, o, h, w) = (2, 8, 16, 32, 32)
        let x = randomTensor([b, i, h, w], seed: 11), weight = randomTensor([i, o, 2, 2], seed: 12)
        let dy = randomTensor([b, o, 2 * h, 2 * w], seed: 13)
        let before = BLASRuntime.threads
        defer { BLASRuntime.setThreads(before) }
        let results = [1, 2].map { threads -> [Float] in
            BLASRuntime.setThreads(threads)
            var y = [Float](repeating: 0, count: dy.count), dx = [Float](repeating: 0, count: x.count)
            var dW = [Float](repeating: 0, count: weight.count)
            ConvTranspose2d.forward(y: &y, x: x.data, weight: weight.data, bias: nil, batch: b, inChannels: i,
                                    outChannels: o, height: h, width: w, bandBudget: 4 * o * 3 * w)
            ConvTranspose2d.backward(dx: &dx, dWeight: &dW, dBias: nil, dy: dy.data, x: x.data, weight: weight.data,
                                     batch: b, inChannels: i, outChannels: o, height: h, width: w,
                                     bandBudget: 4 * o * 3 * w)
            return y + dx + dW
        }
        XCTAssertTrue(sameBits((results[0], results[1])), "ConvTranspose2d depends on the BLAS thread count")
    }

    /// A weight-heavy shape (32 one-band images, 256 x 1024 weights): bands share partial sums in
    /// groups (`ItemGroups`); the weight gradient matches per-image GEMMs over the whole image.
    func testConvTranspose2dGroupedWeightGradient() {
        let (b, i, o, h, w) = (32, 256, 256, 4, 4), hw = h * w
        let x = randomTensor([b, i, h, w], seed: 14), weight = randomTensor([i, o, 2, 2], seed: 15)
        let dy = randomTensor([b, o, 2 * h, 2 * w], seed: 16)
        var dW = [Float](repeating: 0, count: weight.count), expected = dW
        ConvTranspose2d.backward(dx: nil, dWeight: &dW, dBias: nil, dy: dy.data, x: x.data, weight: weight.data,
                                 batch: b, inChannels: i, outChannels: o, height: h, width: w)
        var dt = [Float](repeating: 0, count: 4 * o * hw)
        for n in 0..<b {   // dT (O*4, H*W) gathered from dy, then dW += x_n @ dT^T
            for c in 0..<o {
                for di in 0..<2 {
                    for dj in 0..<2 {
                        for p in 0..<hw {
                            let (row, col) = (p / w, p % w)
                            dt[(c * 4 + di * 2 + dj) * hw + p] = dy.data[((n * o + c) * 2 * h + 2 * row + di) * 2 * w
                                                                         + 2 * col + dj]
                        }
                    }
                }
            }
            Gemm.sgemm(transB: true, m: i, n: 4 * o, k: hw, a: Array(x.data[(n * i * hw)...]), lda: hw, b: dt,
                       ldb: hw, beta: 1, c: &expected, ldc: 4 * o)
        }
        assertClose(dW, expected, atol: 1e-4, rtol: 1e-4, "grouped dW")
    }
}
