import XCTest
import Layers
import Tensors
import TestSupport

/// InstanceNorm2d and MaxPool2d on the smallest planes a UNet bottleneck produces (1 x 1, 1 x 2,
/// 2 x 2, nearly constant 2 x 2), checked against central differences of a plain Double
/// reference of the same function: the Float layers' backward against `L = sum_j w_j y_j` with
/// fixed normal weights w. A Float difference step would be as large as the whole spread of a
/// low-variance plane (or lose it to rounding); in Double a step of 1e-7 resolves it.
///
/// Shapes: B batch, C channels, H x W plane, P = H * W; x, y (B, C, H, W), weight, bias (C).
final class TinyPlaneGradientTests: XCTestCase {
    // MARK: InstanceNorm2d

    /// y (B, C, P) in Double: per plane `weight[c] (x - mean) / sqrt(biased variance + eps) + bias[c]`.
    static func instanceNormReference(_ x: [Double], weight: [Double], bias: [Double], channels c: Int,
                                      pixels p: Int) -> [Double] {
        let eps = Double(InstanceNorm2d.defaultEps)
        var y = x
        for plane in 0..<x.count / p {
            let values = x[plane * p ..< (plane + 1) * p]
            let mean = values.reduce(0, +) / Double(p)
            let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(p)
            for q in values.indices {
                y[q] = weight[plane % c] * (x[q] - mean) / (variance + eps).squareRoot() + bias[plane % c]
            }
        }
        return y
    }

    /// (dx, dWeight, dBias) of InstanceNorm2d.backward for the upstream gradient w, after its forward.
    static func instanceNormBackward(_ x: Tensor, _ weight: Tensor, _ bias: Tensor, _ w: Tensor) -> [Tensor] {
        let (b, c, p) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
        var y = [Float](repeating: 0, count: x.count), mean = [Float](repeating: 0, count: b * c), rstd = mean
        var dx = Tensor(zeros: x.shape), dWeight = Tensor(zeros: [c]), dBias = Tensor(zeros: [c])
        x.withPointer { px in weight.withPointer { pw in
            bias.withPointer { pb in
                InstanceNorm2d.forward(y: &y, mean: &mean, rstd: &rstd, x: px, weight: pw, bias: pb, batch: b,
                                       channels: c, pixels: p)
            }
            w.withPointer { pdy in
                InstanceNorm2d.backward(dx: &dx.data, dWeight: &dWeight.data, dBias: &dBias.data, dy: pdy, x: px,
                                        mean: mean, rstd: rstd, weight: pw, batch: b, channels: c, pixels: p)
            }
        } }
        return [dx, dWeight, dBias]
    }

    /// Planes of 1 x 1 (variance 0: only eps), 1 x 2, 2 x 2 at unit scale, with variance near eps
    /// (scale 3e-3) and far below it (scale 1e-5).
    func testInstanceNormBackwardMatchesDoubleDifferencesOnTinyPlanes() {
        let cases: [(shape: [Int], scale: Float)] = [([1, 3, 1, 1], 1), ([2, 2, 1, 1], 1), ([1, 2, 1, 2], 1),
                                                     ([2, 3, 2, 2], 1), ([1, 2, 2, 2], 3e-3), ([2, 2, 2, 2], 1e-5)]
        for (i, (shape, scale)) in cases.enumerated() {
            let seed = 300 + UInt64(i), c = shape[1], p = shape[2] * shape[3]
            let inputs = [randomTensor(shape, seed: seed, scale: scale), randomTensor([c], seed: seed, stream: 1),
                          randomTensor([c], seed: seed, stream: 2)]
            let w = randomTensor(shape, seed: seed, stream: 3)
            let analytic = Self.instanceNormBackward(inputs[0], inputs[1], inputs[2], w)
            assertMatchesDoubleDifferences(analytic, inputs: inputs, outputWeights: w,
                                           "instancenorm \(shape) scale \(scale)") { t in
                Self.instanceNormReference(t[0], weight: t[1], bias: t[2], channels: c, pixels: p)
            }
            if p == 1 {
                XCTAssertEqual(analytic[0].data, [Float](repeating: 0, count: inputs[0].count),
                               "1 x 1: y = bias, no gradient to x")
                XCTAssertEqual(analytic[1].data, [Float](repeating: 0, count: c),
                               "1 x 1: xhat = 0, no gradient to the weight")
            }
        }
    }

    // MARK: MaxPool2d

    /// y (B, C, H/2, W/2) in Double: the maximum of every 2 x 2 window.
    static func maxPoolReference(_ x: [Double], height h: Int, width w: Int) -> [Double] {
        var y: [Double] = []
        for plane in 0..<x.count / (h * w) { for i in 0..<h / 2 { for j in 0..<w / 2 {
            y.append([(0, 0), (0, 1), (1, 0), (1, 1)].map { x[(plane * h + 2 * i + $0.0) * w + 2 * j + $0.1] }.max()!)
        } } }
        return y
    }

    /// 2 x 2 planes pooled to 1 x 1, and odd planes whose last row / column gets no gradient.
    func testMaxPoolBackwardMatchesDoubleDifferencesOnTinyPlanes() {
        for (i, shape) in [[1, 1, 2, 2], [2, 3, 2, 2], [1, 2, 3, 3], [1, 1, 2, 5]].enumerated() {
            let seed = 320 + UInt64(i), (b, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
            let x = randomTensor(shape, seed: seed), dy = randomTensor([b, c, h / 2, w / 2], seed: seed, stream: 1)
            var y = [Float](repeating: 0, count: dy.count), indices = [Int32](repeating: -1, count: dy.count)
            var dx = Tensor(zeros: shape)
            x.withPointer {
                MaxPool2d.forward(y: &y, indices: &indices, x: $0, batch: b, channels: c, height: h, width: w)
            }
            dy.withPointer {
                MaxPool2d.backward(dx: &dx.data, dy: $0, indices: indices, batch: b, channels: c, height: h, width: w)
            }
            assertMatchesDoubleDifferences([dx], inputs: [x], outputWeights: dy, "maxpool \(shape)") { t in
                Self.maxPoolReference(t[0], height: h, width: w)
            }
        }
    }

    // MARK: Helpers

    /// Every element of every input: `analytic` within 1e-3 relative (plus 1e-5 of its largest
    /// value) of the Double central difference (step 1e-7) of `L = sum_j w_j f(inputs)_j`, and the
    /// two one-sided differences within that tolerance too (no kink inside the step).
    func assertMatchesDoubleDifferences(_ analytic: [Tensor], inputs: [Tensor], outputWeights w: Tensor, _ name: String,
                                        file: StaticString = #filePath, line: UInt = #line,
                                        _ f: ([[Double]]) -> [Double]) {
        let point = inputs.map { $0.data.map(Double.init) }, weights = w.data.map(Double.init), h = 1e-7
        func loss(_ t: [[Double]]) -> Double { zip(f(t), weights).reduce(0) { $0 + $1.0 * $1.1 } }
        let mid = loss(point)
        let floor = 1e-5 * Double(analytic.flatMap(\.data).map(abs).max()!)
        for (i, input) in point.enumerated() {
            for e in input.indices {
                var t = point
                t[i][e] = input[e] + h
                let hi = loss(t)
                t[i][e] = input[e] - h
                let lo = loss(t)
                let central = (hi - lo) / (2 * h), gap = abs((hi - mid) / h - (mid - lo) / h)
                let tolerance = 1e-3 * abs(central) + floor, a = Double(analytic[i].data[e])
                XCTAssertLessThanOrEqual(gap, tolerance, "\(name): kink at input \(i)[\(e)]", file: file, line: line)
                XCTAssertLessThanOrEqual(abs(a - central), tolerance,
                                         "\(name): input \(i)[\(e)] analytic \(a), Double FD \(central)", file: file,
                                         line: line)
            }
        }
    }
}
