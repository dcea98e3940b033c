import XCTest
import Layers
import Tensors
import TestSupport

/// `Linear.forwardGELU` (one oneDNN matmul with a GELU epilogue on AVX-512 CPUs, OpenBLAS + GELU
/// elsewhere) against its naive twin in double precision.
final class LinearGELUTests: XCTestCase {
    func testFusedGELULinearMatchesNaiveTwin() {
        // Pre-activations from about -8 to 8 (scale 2 inputs): GELU's lower tail, its bend and its
        // linear part; rows and widths not multiples of any vector or block size.
        for (n, (rows, input, output)) in [(33, 40, 72), (301, 96, 203), (1, 7, 5)].enumerated() {
            let seed = UInt64(90 + 3 * n)
            let x = randomTensor([rows, input], seed: seed, scale: 2).data
            let w = randomTensor([output, input], seed: seed + 1, scale: 0.5).data
            let b = randomTensor([output], seed: seed + 2).data
            var y = [Float](repeating: .nan, count: rows * output)
            Linear.forwardGELU(y: &y, x: x, weight: w, bias: b, rows: rows, inFeatures: input, outFeatures: output)
            var spread = 0.0
            for r in 0..<rows {
                for o in 0..<output {
                    var pre = Double(b[o]), magnitude = abs(Double(b[o]))
                    for i in 0..<input {
                        let t = Double(x[r * input + i]) * Double(w[o * input + i])
                        pre += t
                        magnitude += abs(t)
                    }
                    let want = NaiveElementwise.gelu(Float(pre)), got = Double(y[r * output + o])
                    // float32 products and sums of `input` terms (GELU' < 1.13), then GELU's own
                    // few-1e-7 relative error.
                    let bound = 1.13 * Double(input + 1) * 0x1p-24 * magnitude + 1e-6 * abs(want) + 1e-30
                    XCTAssertLessThanOrEqual(abs(got - want), bound, "shape \(n), y[\(r), \(o)] = \(got) vs \(want)")
                    spread = max(spread, abs(pre))
                }
            }
            if rows > 1 { XCTAssertGreaterThan(spread, 4, "shape \(n): pre-activations reach GELU's tails") }
        }
        print("Linear.forwardGELU: \(Linear.fusesGELU ? "one oneDNN matmul, GELU epilogue" : "OpenBLAS, then GELU")")
    }
}
