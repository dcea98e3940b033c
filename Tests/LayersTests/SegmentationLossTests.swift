import XCTest
import Layers
import Tensors
import TestSupport

/// The composite CE + Dice training loss: head fixtures, finite differences, sharding, NaN Dice.
final class SegmentationLossTests: XCTestCase {
    struct Evaluation {
        var parts: SegmentationLoss.Parts
        var probabilities: Tensor
        var statistics: SoftDiceLoss.Statistics
    }

    func labels(_ count: Int, classes k: Int, seed: UInt64) -> [Int32] {
        let rng = CounterRNG(seed: seed, stream: 5)
        return (0..<count).map { Int32(rng.uniformInt(UInt64($0), below: UInt64(k))) }
    }

    func evaluate(_ logits: Tensor, _ y: [Int32], normalizer: Double? = nil) -> Evaluation {
        let (b, k, p) = (logits.shape[0], logits.shape[1], logits.shape[2] * logits.shape[3])
        var probabilities = Tensor(zeros: logits.shape)
        let (ce, stats) = logits.withPointer { pl in
            SegmentationLoss.forward(probabilities: &probabilities.data, logits: pl, labels: y,
                                     batch: b, classes: k, pixels: p, normalizer: normalizer)
        }
        return Evaluation(parts: SegmentationLoss.combine(crossEntropy: ce, statistics: stats),
                          probabilities: probabilities, statistics: stats)
    }

    func gradient(_ logits: Tensor, _ y: [Int32], _ e: Evaluation, statistics: SoftDiceLoss.Statistics,
                  upstream: Float, normalizer: Double? = nil) -> Tensor {
        var dx = Tensor(zeros: logits.shape)
        e.probabilities.withPointer { pp in
            SegmentationLoss.backward(dLogits: &dx.data, upstream: upstream, probabilities: pp, labels: y,
                                      statistics: statistics, batch: logits.shape[0], classes: logits.shape[1],
                                      pixels: logits.shape[2] * logits.shape[3], normalizer: normalizer)
        }
        return dx
    }

    /// Loss, CE, Dice and per-class Dice of the PyTorch heads' logits on the shared labels.
    func testMatchesHeadFixtures() throws {
        let y = try Fixtures.file("head_inputs").integers("labels").map(Int32.init)
        let heads = try [("linear_head", "output"), ("autosam_head", "masks")] + cnnHeadFiles().map { ($0, "output") }
        for (name, logitsKey) in heads {
            let file = try Fixtures.file(name)
            let e = evaluate(try file.tensor(logitsKey), y)
            for (key, value) in [("loss", e.parts.total), ("ce", e.parts.crossEntropy), ("dice", e.parts.dice.loss)] {
                let expected = Double(try file.tensor(key).data[0])
                XCTAssertEqual(value, expected,
                               accuracy: Double(Fixtures.suggestedAtol(name, key)) + 1e-4 * abs(expected),
                               "\(name)/\(key)")
            }
            assertClose(e.parts.dice.perClass.map(Float.init), try file.tensor("dice_per_class").data,
                        atol: Fixtures.suggestedAtol(name, "dice_per_class"), rtol: 1e-4, "\(name)/dice_per_class")
        }
    }

    /// `cnn_head_d<k>` for every CNN head of the manifest's `cnn_heads`.
    func cnnHeadFiles() throws -> [String] {
        let heads = try XCTUnwrap(Fixtures.config["cnn_heads"] as? [[String: Any]], "manifest.config.cnn_heads")
        XCTAssertFalse(heads.isEmpty)
        return try heads.map { "cnn_head_d\(try XCTUnwrap($0["num_depth"] as? Int))" }
    }

    func testGradients() {
        for (i, shape) in [[1, 2, 1, 1], [1, 3, 1, 3], [2, 4, 3, 1], [2, 3, 2, 3]].enumerated() {
            let y = labels(shape[0] * shape[2] * shape[3], classes: shape[1], seed: 400 + UInt64(i))
            GradientCheck(eps: 3e-3).verify("segmentation loss \(shape)",
                                            inputs: [randomTensor(shape, seed: 400 + UInt64(i))],
                                            forward: { t in
                [Tensor(shape: [1], data: [Float(self.evaluate(t[0], y).parts.total)])]
            },
                                            backward: { t, w in
                let e = self.evaluate(t[0], y)
                return [self.gradient(t[0], y, e, statistics: e.statistics, upstream: w[0].data[0])]
            })
        }
    }

    /// Two "ranks" with the global normalizer and summed statistics reproduce the whole batch:
    /// summed CE terms, the loss, and the concatenated gradient shares.
    func testShardsReproduceWholeBatch() {
        let (k, h, w) = (4, 3, 5), p = 15
        let logits = randomTensor([3, k, h, w], seed: 410, scale: 2), y = labels(3 * p, classes: k, seed: 410)
        let whole = evaluate(logits, y)
        let wholeGradient = gradient(logits, y, whole, statistics: whole.statistics, upstream: 0.7)
        let split = 2 * k * p
        let shards = [(Tensor(shape: [2, k, h, w], data: Array(logits.data[..<split])), Array(y[..<(2 * p)])),
                      (Tensor(shape: [1, k, h, w], data: Array(logits.data[split...])), Array(y[(2 * p)...]))]
        let local = shards.map { evaluate($0.0, $0.1, normalizer: Double(3 * p)) }
        var global = local[0].statistics
        global.add(local[1].statistics)
        let combined = SegmentationLoss.combine(crossEntropy: local[0].parts.crossEntropy + local[1].parts.crossEntropy,
                                                statistics: global)
        XCTAssertEqual(combined.total, whole.parts.total, accuracy: 1e-6)
        let shares = zip(shards, local).flatMap { shard, e in
            gradient(shard.0, shard.1, e, statistics: global, upstream: 0.7, normalizer: Double(3 * p)).data
        }
        assertClose(shares, wholeGradient.data, atol: 1e-7, rtol: 1e-5, "sharded gradient")
    }

    /// Saturated logits predicting every class perfectly: Dice NaN (as the reference), total NaN,
    /// and the gradient is the (finite) cross-entropy gradient alone.
    func testPerfectPredictionGivesNaNDiceAndCrossEntropyGradientOnly() {
        let (b, k, p) = (1, 3, 4)
        let y: [Int32] = [0, 1, 2, 1]
        var logits = Tensor(repeating: -60, shape: [b, k, 2, 2])
        for q in 0..<p { logits.data[Int(y[q]) * p + q] = 60 }
        let e = evaluate(logits, y)
        XCTAssertTrue(e.parts.dice.loss.isNaN)
        XCTAssertTrue(e.parts.total.isNaN)
        XCTAssertEqual(e.parts.dice.kept, [false, false])
        let g = gradient(logits, y, e, statistics: e.statistics, upstream: 1)
        var ceOnly = Tensor(zeros: logits.shape)
        e.probabilities.withPointer { pp in
            CrossEntropy.backward(dLogits: &ceOnly.data, upstream: 1, probabilities: pp, labels: y,
                                  batch: b, classes: k, pixels: p)
        }
        XCTAssertTrue(g.data.allSatisfy { $0.isFinite })
        XCTAssertEqual(g.data, ceOnly.data)
    }
}
