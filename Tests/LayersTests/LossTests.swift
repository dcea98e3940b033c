import Foundation
import XCTest
import Layers
import Tensors
import TestSupport

/// ChannelSoftmax, CrossEntropy and SoftDiceLoss: PyTorch fixtures, naive twins, finite differences.
final class LossTests: XCTestCase {
    func labels(_ shape: [Int], classes k: Int, seed: UInt64) -> [Int32] {
        let rng = CounterRNG(seed: seed, stream: 5)
        return (0..<shape.reduce(1, *)).map { Int32(rng.uniformInt(UInt64($0), below: UInt64(k))) }
    }

    /// x (B, K, H, W) -> softmax over K (and the log-sum-exp per pixel).
    func channelSoftmax(_ x: Tensor) -> (y: Tensor, logSumExp: [Float]) {
        let (b, k, p) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
        var y = Tensor(zeros: x.shape), lse = [Float](repeating: 0, count: b * p)
        x.withPointer { px in
            ChannelSoftmax.forward(y: &y.data, logSumExp: &lse, x: px, batch: b, channels: k, pixels: p)
        }
        return (y, lse)
    }

    func crossEntropy(_ logits: Tensor, _ labels: [Int32], normalizer: Double? = nil)
        -> (loss: Double, probabilities: Tensor) {
        let (b, k, p) = (logits.shape[0], logits.shape[1], logits.shape[2] * logits.shape[3])
        var probabilities = Tensor(zeros: logits.shape)
        let loss = logits.withPointer { pl in
            CrossEntropy.forward(probabilities: &probabilities.data, logits: pl, labels: labels,
                                 batch: b, classes: k, pixels: p, normalizer: normalizer)
        }
        return (loss, probabilities)
    }

    func testChannelSoftmaxMatchesNaiveTwin() {
        for (i, shape) in [[1, 1, 1, 1], [2, 3, 1, 5], [1, 4, 7, 3], [3, 2, 2, 2], [1, 5, 16, 17]].enumerated() {
            let x = randomTensor(shape, seed: 300 + UInt64(i), scale: 6)
            let (y, lse) = channelSoftmax(x)
            let nhwc = x.permuted([0, 2, 3, 1])
            let rows = x.count / shape[1]
            let naive = Tensor(shape: nhwc.shape,
                               data: NaiveElementwise.softmax(nhwc.data, rows: rows, length: shape[1]))
            assertClose(y.data, naive.permuted([0, 3, 1, 2]).data, atol: 1e-7, rtol: 2e-6, "channel softmax \(shape)")
            let naiveLSE = (0..<rows).map { r in
                let sum = (0..<shape[1]).map { Foundation.exp(Double(nhwc.data[r * shape[1] + $0])) }.reduce(0, +)
                return Float(Foundation.log(sum))
            }
            assertClose(lse, naiveLSE, atol: 1e-6, rtol: 1e-6, "logsumexp \(shape)")
        }
    }

    func testChannelSoftmaxGradients() {
        for (i, shape) in [[1, 1, 1, 1], [1, 3, 1, 2], [2, 4, 2, 3]].enumerated() {
            GradientCheck().verify("channel softmax \(shape)",
                                   inputs: [randomTensor(shape, seed: 310 + UInt64(i), scale: 2)],
                                   forward: { [self.channelSoftmax($0[0]).y] }, backward: { t, dy in
                let y = self.channelSoftmax(t[0]).y
                var dx = Tensor(zeros: shape)
                y.withPointer { py in dy[0].withPointer { pdy in
                    ChannelSoftmax.backward(dx: &dx.data, dy: pdy, y: py, batch: shape[0], channels: shape[1],
                                            pixels: shape[2] * shape[3])
                } }
                return [dx]
            })
        }
    }

    func testCrossEntropyMatchesDirectFormula() {
        let shape = [2, 3, 5, 7]
        let x = randomTensor(shape, seed: 320, scale: 4), y = labels([2, 5, 7], classes: 3, seed: 320)
        var expected = 0.0
        for b in 0..<2 {
            for q in 0..<35 {
                let z = (0..<3).map { Double(x.data[(b * 3 + $0) * 35 + q]) }
                expected -= Foundation.log(Foundation.exp(z[Int(y[b * 35 + q])]) / z.map(Foundation.exp).reduce(0, +))
            }
        }
        XCTAssertEqual(crossEntropy(x, y).loss, expected / 70, accuracy: 1e-6)
        XCTAssertEqual(crossEntropy(x, y, normalizer: 140).loss, expected / 140, accuracy: 1e-6)
    }

    func testCrossEntropyGradients() {
        for (i, shape) in [[1, 1, 1, 1], [1, 2, 1, 3], [2, 3, 2, 1], [2, 4, 3, 3]].enumerated() {
            let y = labels([shape[0], shape[2], shape[3]], classes: shape[1], seed: 330 + UInt64(i))
            let normalizer = Double(shape[0] * shape[2] * shape[3] + i)   // not the local count
            GradientCheck().verify("cross entropy \(shape)", inputs: [randomTensor(shape, seed: 330 + UInt64(i))],
                                   forward: { t in
                let loss = self.crossEntropy(t[0], y, normalizer: normalizer).loss
                return [Tensor(shape: [1], data: [Float(loss)])]
            },
                                   backward: { t, w in
                let probabilities = self.crossEntropy(t[0], y, normalizer: normalizer).probabilities
                var dx = Tensor(zeros: shape)
                probabilities.withPointer { pp in
                    CrossEntropy.backward(dLogits: &dx.data, upstream: w[0].data[0], probabilities: pp, labels: y,
                                          batch: shape[0], classes: shape[1], pixels: shape[2] * shape[3],
                                          normalizer: normalizer)
                }
                return [dx]
            })
        }
    }

    func diceStatistics(_ p: Tensor, _ y: [Int32]) -> SoftDiceLoss.Statistics {
        p.withPointer { pp in
            SoftDiceLoss.statistics(probabilities: pp, labels: y, batch: p.shape[0], classes: p.shape[1],
                                    pixels: p.shape[2] * p.shape[3])
        }
    }

    func diceGradient(_ p: Tensor, _ y: [Int32], _ s: SoftDiceLoss.Statistics, upstream: Float) -> Tensor {
        var dp = Tensor(zeros: p.shape)
        p.withPointer { pp in
            SoftDiceLoss.backward(dProbabilities: &dp.data, upstream: upstream, probabilities: pp, labels: y,
                                  statistics: s, batch: p.shape[0], classes: p.shape[1],
                                  pixels: p.shape[2] * p.shape[3])
        }
        return dp
    }

    /// Every case in `dice_loss_unit.safetensors` (names discovered from the file).
    func testSoftDiceMatchesPyTorchFixtureCases() throws {
        let file = try Fixtures.file("dice_loss_unit")
        let cases = file.names.filter { $0.hasSuffix("/x") }.map { String($0.dropLast(2)) }.sorted()
        XCTAssertEqual(Set(cases), ["random", "perfect_class1", "absent_class", "all_perfect"])
        for name in cases {
            let p = try file.tensor(name + "/x"), y = try file.integers(name + "/labels").map(Int32.init)
            let expectedLoss = try file.tensor(name + "/loss").data[0]
            let stats = diceStatistics(p, y)
            let result = SoftDiceLoss.loss(stats)
            if expectedLoss.isNaN {
                XCTAssertTrue(result.loss.isNaN, "\(name): loss \(result.loss), expected NaN")
                // Every foreground class (one per `per_class` entry) is dropped.
                let classes = try file.info(name + "/per_class").shape[0]
                XCTAssertEqual(result.kept, [Bool](repeating: false, count: classes), name)
            } else {
                XCTAssertEqual(result.loss, Double(expectedLoss),
                               accuracy: Double(Fixtures.suggestedAtol("dice_loss_unit", name + "/loss"))
                                   + 1e-4 * Double(abs(expectedLoss)), name)
            }
            assertClose(result.perClass.map(Float.init), try file.tensor(name + "/per_class").data,
                        atol: Fixtures.suggestedAtol("dice_loss_unit", name + "/per_class"), rtol: 1e-4,
                        name + "/per_class")
            let grad = diceGradient(p, y, stats, upstream: 1)
            assertClose(grad, try file.tensor(name + "/grad_x"),
                        atol: Fixtures.suggestedAtol("dice_loss_unit", name + "/grad_x"), rtol: 1e-4, name + "/grad_x")
        }
    }

    func testSoftDiceGradients() {
        for (i, shape) in [[1, 2, 1, 1], [1, 3, 1, 4], [2, 4, 3, 1], [3, 2, 2, 3]].enumerated() {
            let y = labels([shape[0], shape[2], shape[3]], classes: shape[1], seed: 340 + UInt64(i))
            let rng = CounterRNG(seed: 340 + UInt64(i), stream: 1)
            let p = Tensor(shape: shape, data: rng.uniforms(shape.reduce(1, *), low: 0.05, high: 1))
            GradientCheck(eps: 1e-3).verify("soft dice \(shape)", inputs: [p], forward: { t in
                [Tensor(shape: [1], data: [Float(SoftDiceLoss.loss(self.diceStatistics(t[0], y)).loss)])]
            }, backward: { t, w in
                [self.diceGradient(t[0], y, self.diceStatistics(t[0], y), upstream: w[0].data[0])]
            })
        }
    }

    /// Statistics are sums: the shards of a batch add up to the whole batch's statistics.
    func testStatisticsOfShardsSumToWholeBatch() {
        let p = randomTensor([3, 4, 2, 5], seed: 350), y = labels([3, 2, 5], classes: 4, seed: 350)
        let whole = diceStatistics(p, y)
        var summed = diceStatistics(Tensor(shape: [2, 4, 2, 5], data: Array(p.data[0..<80])), Array(y[0..<20]))
        summed.add(diceStatistics(Tensor(shape: [1, 4, 2, 5], data: Array(p.data[80...])), Array(y[20...])))
        XCTAssertEqual(summed.values.count, whole.values.count)
        for (a, b) in zip(summed.values, whole.values) { XCTAssertEqual(a, b, accuracy: 1e-9) }
    }
}
