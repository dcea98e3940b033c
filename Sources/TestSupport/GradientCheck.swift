import XCTest
import Tensors

/// Finite-difference check of a backward pass (the approach of ggml's test-backend-ops).
///
/// The scalar under test is `L = sum_j w_j * y_j` over every output element, with a fixed random
/// weighting `w` (normal, from `seed`), accumulated in double precision. The analytic gradient is
/// `backward(inputs, w)`; the numeric one is the central difference
/// `(L(x + e) - L(x - e)) / (x+e - (x-e))` in double, per input element (a seeded sample of at most
/// `maxChecksPerInput` elements for large inputs). With `skipKinks`, elements whose one-sided
/// differences disagree (a ReLU kink or a max switching inside the step) are skipped and counted.
public struct GradientCheck {
    public struct Failure: CustomStringConvertible {
        public let input: Int, element: Int
        public let analytic: Double, numeric: Double
        public var description: String { "input \(input)[\(element)]: analytic \(analytic), numeric \(numeric)" }
    }

    public var eps: Float = 1e-2
    public var atol: Double = 1e-3
    public var rtol: Double = 1e-2
    public var maxChecksPerInput = 300
    public var seed: UInt64 = 7
    public var skipKinks = false

    public init(eps: Float = 1e-2, atol: Double = 1e-3, rtol: Double = 1e-2, skipKinks: Bool = false) {
        self.eps = eps
        self.atol = atol
        self.rtol = rtol
        self.skipKinks = skipKinks
    }

    /// Runs the check and fails the current test with the worst element on mismatch.
    /// `inputs` are the tensors differentiated; `forward` maps them to outputs;
    /// `backward(inputs, outputWeights)` returns one gradient per input, same shapes.
    public func verify(
        _ name: String, inputs: [Tensor],
        forward: ([Tensor]) -> [Tensor],
        backward: ([Tensor], [Tensor]) -> [Tensor],
        file: StaticString = #filePath, line: UInt = #line
    ) {
        let weights = outputWeights(forward(inputs))
        func loss(_ xs: [Tensor]) -> Double {
            var total = 0.0
            for (y, w) in zip(forward(xs), weights) {
                precondition(y.count == w.count, "forward changed its output size")
                for j in 0..<y.count { total += Double(y.data[j]) * Double(w.data[j]) }
            }
            return total
        }
        let analytic = backward(inputs, weights)
        guard analytic.count == inputs.count else {
            XCTFail("\(name): backward returned \(analytic.count) gradients for \(inputs.count) inputs",
                    file: file, line: line)
            return
        }
        var worst: Failure? = nil, worstExcess = -Double.infinity
        var failures = 0, checked = 0, skipped = 0
        for (i, x) in inputs.enumerated() {
            XCTAssertEqual(analytic[i].shape, x.shape, "\(name): gradient \(i) shape", file: file, line: line)
            for e in checkedElements(of: x, input: i) {
                guard let numeric = numericDerivative(loss, inputs, input: i, element: e) else {
                    skipped += 1
                    continue
                }
                let a = Double(analytic[i].data[e])
                let excess = abs(a - numeric) - (atol + rtol * abs(numeric))
                checked += 1
                if excess > 0 || a.isNaN { failures += 1 }
                if excess > worstExcess || a.isNaN {
                    worstExcess = a.isNaN ? .infinity : excess
                    worst = Failure(input: i, element: e, analytic: a, numeric: numeric)
                }
            }
        }
        XCTAssertEqual(failures, 0, "\(name): \(failures)/\(checked) gradient elements off "
                                    + "(skipped \(skipped) at kinks); "
                                    + "worst \(worst.map(String.init(describing:)) ?? "-")", file: file, line: line)
        XCTAssertGreaterThan(checked, 0, "\(name): nothing was checked", file: file, line: line)
    }

    /// The fixed random weighting `w` of every output element (normal, from `seed`).
    private func outputWeights(_ outputs: [Tensor]) -> [Tensor] {
        let rng = CounterRNG(seed: seed, stream: 99)
        var start: UInt64 = 0
        return outputs.map { out -> Tensor in
            defer { start += UInt64(out.count) }
            return Tensor(shape: out.shape, data: rng.normals(out.count, start: start))
        }
    }

    /// The elements of input `i` that are checked: all of them, or a seeded sample of
    /// `maxChecksPerInput` for large inputs.
    private func checkedElements(of x: Tensor, input i: Int) -> [Int] {
        x.count <= maxChecksPerInput ? Array(0..<x.count)
            : Array(CounterRNG(seed: seed, stream: UInt64(i)).permutation(x.count).prefix(maxChecksPerInput))
    }

    /// The central difference of `loss` at element `e` of input `i`; nil at a kink (one-sided
    /// differences that disagree) when `skipKinks` is set.
    private func numericDerivative(_ loss: ([Tensor]) -> Double, _ inputs: [Tensor],
                                   input i: Int, element e: Int) -> Double? {
        var xs = inputs
        let x0 = xs[i].data[e]
        let hi = x0 + eps, lo = x0 - eps
        xs[i].data[e] = hi
        let lHi = loss(xs)
        xs[i].data[e] = lo
        let lLo = loss(xs)
        let numeric = (lHi - lLo) / (Double(hi) - Double(lo))
        if skipKinks {
            xs[i].data[e] = x0
            let l0 = loss(xs)
            let up = (lHi - l0) / (Double(hi) - Double(x0)), down = (l0 - lLo) / (Double(x0) - Double(lo))
            if abs(up - down) > 4 * (atol + rtol * abs(numeric)) + 0.05 * abs(numeric) { return nil }
        }
        return numeric
    }
}

/// Seeded test tensors.
public func randomTensor(_ shape: [Int], seed: UInt64, stream: UInt64 = 0, scale: Float = 1) -> Tensor {
    let rng = CounterRNG(seed: seed, stream: stream)
    let n = shape.reduce(1, *)
    return Tensor(shape: shape, data: rng.normals(n).map { $0 * scale })
}
