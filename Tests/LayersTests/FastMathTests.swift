import Foundation
import XCTest
import Layers
import TestSupport

/// Dense sweeps of the polynomial approximations against Foundation's libm in double precision.
final class FastMathTests: XCTestCase {
    /// Evaluates `f` at `count` evenly spaced floats in [lo, hi] and returns the worst relative
    /// error against `reference` (skipping references below `floor` in magnitude) and where.
    func worstRelativeError(_ lo: Double, _ hi: Double, count: Int, floor: Double = 0,
                            _ f: (Float) -> Float, _ reference: (Double) -> Double) -> (Double, Float, Double) {
        var worst = 0.0, at: Float = 0, worstAbs = 0.0
        for i in 0...count {
            let x = Float(lo + (hi - lo) * Double(i) / Double(count))
            let e = reference(Double(x)), a = Double(f(x))
            worstAbs = max(worstAbs, abs(a - e))
            guard abs(e) > floor else { continue }
            let r = abs(a - e) / abs(e)
            if !(r <= worst) { worst = r; at = x }
        }
        return (worst, at, worstAbs)
    }

    func testExpAgainstFoundation() {
        let (rel, at, _) = worstRelativeError(-87.33, 88.3, count: 1_000_000, FastMath.exp, Foundation.exp)
        print("FastMath.exp on [-87.33, 88.3]: max relative error \(rel) at \(at)")
        XCTAssertLessThan(rel, 3e-7, "exp worst at \(at)")
        XCTAssertEqual(FastMath.exp(0), 1)
        XCTAssertEqual(FastMath.exp(-100), 0)
        XCTAssertEqual(FastMath.exp(-.infinity), 0)
        XCTAssertEqual(FastMath.exp(100), .infinity)
        XCTAssertTrue(FastMath.exp(.nan).isNaN)
    }

    func testErfAgainstFoundationDenseSweep() {
        let (rel, at, abs) = worstRelativeError(-10, 10, count: 2_000_000, FastMath.erf, Foundation.erf)
        print("FastMath.erf on [-10, 10] (2e6 points): max relative error \(rel) at \(at), max abs error \(abs)")
        XCTAssertLessThan(rel, 1e-6, "erf worst at \(at)")
        let (tiny, tinyAt, _) = worstRelativeError(-1e-3, 1e-3, count: 20_000, FastMath.erf, Foundation.erf)
        XCTAssertLessThan(tiny, 1e-6, "erf near 0, worst at \(tinyAt)")
        XCTAssertEqual(FastMath.erf(0), 0)
        XCTAssertEqual(FastMath.erf(20), 1)
        XCTAssertEqual(FastMath.erf(-.infinity), -1)
    }

    /// The lower tail of Phi is the GELU's lower tail: it must stay relatively accurate where
    /// `1 + erf` would cancel, down to the smallest normal floats.
    func testNormalCDFLowerTailIsRelativelyAccurate() {
        let phi = { (x: Double) in 0.5 * Foundation.erfc(-x / 2.0.squareRoot()) }
        let (rel, at, _) = worstRelativeError(-13, 8, count: 1_000_000, floor: 1e-37, FastMath.normalCDF, phi)
        print("FastMath.normalCDF on [-13, 8]: max relative error \(rel) at \(at)")
        XCTAssertLessThan(rel, 1e-6, "Phi worst at \(at)")
    }

    /// The 16-lane exp performs the scalar one's operations lane by lane: the same bits, edges included.
    func testSIMDExpMatchesScalarBitForBit() {
        var inputs: [Float] = [0, -0, 1, -1, 88.3, 88.31, 100, -87.3365, -87.34, -200, .nan, .infinity, -.infinity,
                               .leastNonzeroMagnitude, 0.5, -0.5]
        inputs += randomTensor([4096], seed: 90, scale: 40).data
        for start in stride(from: 0, to: inputs.count - 15, by: 16) {
            let v = SIMD16<Float>((0..<16).map { inputs[start + $0] })
            let vector = FastMath.exp(v)
            for lane in 0..<16 {
                let scalar = FastMath.exp(v[lane])
                XCTAssertTrue(vector[lane].bitPattern == scalar.bitPattern || (vector[lane].isNaN && scalar.isNaN),
                              "exp(\(v[lane])): \(vector[lane]) vs \(scalar)")
            }
        }
    }

    /// `expNonPositive` is `exp` on its domain (x <= 0, -inf, NaN), bit for bit: around the underflow
    /// cut at -87.3365, in the subnormal-result range above it, far below it (where its unclamped
    /// arithmetic makes garbage that must not leak) and at ordinary softmax logits.
    func testExpNonPositiveMatchesExpBitForBit() {
        let cut: Float = -87.3365
        var inputs: [Float] = [0, -0, cut, cut.nextUp, cut.nextDown, -87.34, -87, -86.5, -103,
                               -200, -1e30, -.greatestFiniteMagnitude, -.infinity, .nan, -.leastNonzeroMagnitude]
        inputs += (0..<2000).map { -Float($0) * 0.0451 }
        inputs += randomTensor([4096], seed: 91, scale: 30).data.map { -abs($0) }
        while inputs.count % 16 != 0 { inputs.append(-1) }
        for start in stride(from: 0, to: inputs.count, by: 16) {
            let v = SIMD16<Float>((0..<16).map { inputs[start + $0] })
            let fast = FastMath.expNonPositive(v), reference = FastMath.exp(v)
            for lane in 0..<16 {
                XCTAssertTrue(fast[lane].bitPattern == reference[lane].bitPattern
                              || (fast[lane].isNaN && reference[lane].isNaN),
                              "exp(\(v[lane])): \(fast[lane]) vs \(reference[lane])")
            }
        }
    }
}
