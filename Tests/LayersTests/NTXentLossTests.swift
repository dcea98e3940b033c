import Foundation
import XCTest
import Layers
import Tensors
import TestSupport

/// NT-Xent: a direct Double computation of the SimCLR formula, a hand-computed case, finite
/// differences, and gradients restricted to a sample range.
final class NTXentLossTests: XCTestCase {
    /// The formula written out plainly: cosine similarities, -log(exp(s_ip/t) / sum_{j != i} exp(s_ij/t)).
    func naiveLoss(_ z: Tensor, temperature t: Double) -> Double {
        let rows = z.shape[0], d = z.shape[1], n = rows / 2
        func row(_ i: Int) -> [Double] { (0..<d).map { Double(z.data[i * d + $0]) } }
        func cosine(_ i: Int, _ j: Int) -> Double {
            let a = row(i), b = row(j)
            let dot = zip(a, b).map(*).reduce(0, +)
            let na = a.map { $0 * $0 }.reduce(0, +).squareRoot(), nb = b.map { $0 * $0 }.reduce(0, +).squareRoot()
            return dot / (na * nb)
        }
        var total = 0.0
        for i in 0..<rows {
            let positive = (i + n) % rows
            var denominator = 0.0
            for j in 0..<rows where j != i { denominator += exp(cosine(i, j) / t) }
            total += -log(exp(cosine(i, positive) / t) / denominator)
        }
        return total / Double(rows)
    }

    func loss(_ z: Tensor, temperature t: Double = NTXentLoss.defaultTemperature) -> Double {
        z.withPointer { NTXentLoss.forward(z: $0, samples: z.shape[0] / 2, dim: z.shape[1], temperature: t) }
    }

    /// dZ (2N, D) or (2M, D) for a sample range, accumulated onto `initial`.
    func gradient(_ z: Tensor, upstream: Float = 1, range: Range<Int>? = nil, initial: Tensor? = nil,
                  temperature t: Double = NTXentLoss.defaultTemperature) -> Tensor {
        let n = z.shape[0] / 2, d = z.shape[1]
        var dZ = initial ?? Tensor(zeros: [2 * (range?.count ?? n), d])
        z.withPointer { pz in
            _ = NTXentLoss.backward(dZ: &dZ.data, upstream: upstream, z: pz, samples: n, dim: d,
                                    temperature: t, gradientSamples: range)
        }
        return dZ
    }

    func testForwardMatchesDirectComputation() {
        let cases: [(n: Int, d: Int, t: Double)] = [(1, 1, 0.5), (1, 4, 0.5), (2, 3, 0.5), (3, 5, 0.5),
                                                    (5, 8, 0.5), (4, 6, 0.1), (3, 7, 2.0)]
        for (c, shape) in cases.enumerated() {
            let z = randomTensor([2 * shape.n, shape.d], seed: 800 + UInt64(c), scale: 3)
            let expected = naiveLoss(z, temperature: shape.t)
            XCTAssertEqual(loss(z, temperature: shape.t), expected, accuracy: 1e-9 * max(1, abs(expected)),
                           "N \(shape.n) D \(shape.d) t \(shape.t)")
        }
    }

    /// a0 = b0 = e1, a1 = b1 = e2: each row sees its positive at s = 1 and two negatives at s = 0
    /// (its own self-similarity excluded), so loss = -log(e^2 / (e^2 + 2)). Norms must not matter.
    func testHandComputedOrthogonalCase() {
        let z = Tensor(shape: [4, 2], data: [1, 0, 0, 3, 2, 0, 0, 0.5])
        let expected = -log(exp(2.0) / (exp(2.0) + 2))
        XCTAssertEqual(loss(z), expected, accuracy: 1e-12)
        // A very low temperature must stay finite (log-sum-exp shifted by the row maximum).
        let cold = loss(z, temperature: 1e-3)
        XCTAssertTrue(cold.isFinite)
        XCTAssertEqual(cold, 0, accuracy: 1e-12)
    }

    func testGradientMatchesFiniteDifferences() {
        let shapes: [(n: Int, d: Int)] = [(1, 3), (2, 1), (2, 4), (3, 5), (4, 7)]
        for (c, shape) in shapes.enumerated() {
            let z = randomTensor([2 * shape.n, shape.d], seed: 900 + UInt64(c))
            GradientCheck(eps: 1e-2, atol: 5e-4, rtol: 1e-2).verify(
                "NT-Xent N \(shape.n) D \(shape.d)", inputs: [z],
                forward: { xs in [Tensor(shape: [1], data: [Float(self.loss(xs[0]))])] },
                backward: { xs, w in [self.gradient(xs[0], upstream: w[0].data[0])] })
        }
    }

    func testGradientAtLowTemperatureMatchesFiniteDifferences() {
        let z = randomTensor([6, 4], seed: 950)
        GradientCheck(eps: 2e-3, atol: 2e-3, rtol: 2e-2).verify(
            "NT-Xent t 0.1", inputs: [z],
            forward: { xs in [Tensor(shape: [1], data: [Float(self.loss(xs[0], temperature: 0.1))])] },
            backward: { xs, w in [self.gradient(xs[0], upstream: w[0].data[0], temperature: 0.1)] })
    }

    /// Rows of a sample range equal the matching rows of the full gradient, and backward accumulates.
    func testGradientForSampleRangeAndAccumulation() {
        let n = 5, d = 3
        let z = randomTensor([2 * n, d], seed: 960)
        let full = gradient(z, upstream: 1.5)
        for range in [0..<2, 2..<5, 4..<5, 3..<3] {
            let part = gradient(z, upstream: 1.5, range: range)
            var expected: [Float] = []
            for s in range { expected += Array(full.data[(s * d)..<((s + 1) * d)]) }
            for s in range { expected += Array(full.data[((n + s) * d)..<((n + s + 1) * d)]) }
            XCTAssertEqual(part.data, expected, "range \(range)")
        }
        let base = randomTensor([2 * n, d], seed: 961)
        let accumulated = gradient(z, upstream: 1.5, initial: base)
        assertClose(accumulated, Tensor(shape: base.shape, data: zip(base.data, full.data).map(+)),
                    atol: 1e-6, rtol: 0, "accumulated")
        XCTAssertGreaterThan(full.data.map(abs).max()!, 1e-3, "the gradient must not vanish")
    }
}
