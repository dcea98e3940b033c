import XCTest
import Layers
import Tensors
import TestSupport

/// bfloat16 rounding, and the oneDNN bfloat16 linear against a double-precision reference on
/// exactly the rounded inputs it sees. The linear's tests run only on CPUs with bfloat16 matrix
/// instructions and are skipped with the reason (printed by XCTest) everywhere else.
final class BFloat16Tests: XCTestCase {
    func testRoundsToNearestEven() {
        // Halfway cases go to the even bfloat16; just above / below halfway go up / down.
        XCTAssertEqual(BFloat16.bits(Float(bitPattern: 0x3F80_8000)), 0x3F80)   // tie, 0x3F80 even
        XCTAssertEqual(BFloat16.bits(Float(bitPattern: 0x3F81_8000)), 0x3F82)   // tie, 0x3F81 odd -> up
        XCTAssertEqual(BFloat16.bits(Float(bitPattern: 0x3F80_8001)), 0x3F81)
        XCTAssertEqual(BFloat16.bits(Float(bitPattern: 0x3F80_7FFF)), 0x3F80)
        XCTAssertEqual(BFloat16.bits(-1.5), 0xBFC0)
        XCTAssertTrue(BFloat16.rounded(.nan).isNaN)
        XCTAssertTrue(BFloat16.rounded(Float(bitPattern: 0x7F80_0001)).isNaN, "a NaN with low payload bits only")
        XCTAssertEqual(BFloat16.rounded(.infinity), .infinity)
        XCTAssertEqual(BFloat16.rounded(-.infinity), -.infinity)
        XCTAssertEqual(BFloat16.rounded(.greatestFiniteMagnitude), .infinity, "beyond the largest bfloat16")
        XCTAssertEqual(BFloat16.rounded(0), 0)
        // Relative error at most half a unit in the last place of an 8-bit significand: 2^-8.
        let x = randomTensor([4096], seed: 71, scale: 100).data
        for v in x where v != 0 {
            XCTAssertLessThanOrEqual(abs(BFloat16.rounded(v) - v), abs(v) * 0x1p-8, "\(v)")
        }
        var bits = [UInt16](repeating: 0, count: x.count)
        BFloat16.convert(x, to: &bits, count: x.count)
        XCTAssertEqual(bits, x.map(BFloat16.bits))
    }

    func testLinearMatchesDoubleReferenceOnRoundedInputs() throws {
        try skipWithoutBFloat16()
        for (rows, input, output, bias) in [(37, 70, 29, true), (256, 96, 288, false), (1, 8, 3, true)] {
            let x = randomTensor([rows, input], seed: 72).data, w = randomTensor([output, input], seed: 73).data
            let b = randomTensor([output], seed: 74).data
            let wBits = w.map(BFloat16.bits)
            var y = [Float](repeating: .nan, count: rows * output)
            BFloat16Linear.forward(y: &y, x: x, weight: wBits, bias: bias ? b : nil, rows: rows, inFeatures: input,
                                   outFeatures: output)
            var yFloat = [Float](repeating: 0, count: rows * output)
            Linear.forward(y: &yFloat, x: x, weight: w, bias: bias ? b : nil, rows: rows, inFeatures: input,
                           outFeatures: output)
            for r in 0..<rows {
                for o in 0..<output {
                    var exact = bias ? Double(b[o]) : 0, magnitude = bias ? abs(Double(b[o])) : 0
                    for k in 0..<input {
                        let term = Double(BFloat16.rounded(x[r * input + k])) * Double(BFloat16.float(wBits[o * input + k]))
                        exact += term
                        magnitude += abs(term)
                    }
                    let got = Double(y[r * output + o])
                    // float32 accumulation of exact bf16 products: at most ~(input + 1) roundings.
                    XCTAssertLessThanOrEqual(abs(got - exact), Double(input + 2) * 0x1p-24 * magnitude + 1e-30,
                                             "(\(rows), \(input), \(output)) at [\(r), \(o)]")
                    // Against float32 inputs: each product moves by at most 2 half-ulps of bfloat16.
                    XCTAssertLessThanOrEqual(abs(got - Double(yFloat[r * output + o])), 0x1p-7 * magnitude + 1e-6)
                }
            }
        }
    }

    /// lin1 of the bfloat16 MLP: GELU on the float32 accumulators, stored as bfloat16, and lin2 reading
    /// those bits directly, against float32 GELU on the same product.
    func testGELULinearRoundsOnceAndFeedsTheNextLinear() throws {
        try skipWithoutBFloat16()
        let (rows, input, hidden, output) = (33, 40, 72, 24)
        let x = randomTensor([rows, input], seed: 75, scale: 2).data
        let w1 = randomTensor([hidden, input], seed: 76).data.map(BFloat16.bits)
        let b1 = randomTensor([hidden], seed: 77).data
        let w2 = randomTensor([output, hidden], seed: 78).data.map(BFloat16.bits)
        var product = [Float](repeating: .nan, count: rows * hidden)
        BFloat16Linear.forward(y: &product, x: x, weight: w1, bias: b1, rows: rows, inFeatures: input,
                               outFeatures: hidden)
        var reference = [Float](repeating: .nan, count: rows * hidden)
        GELU.forward(y: &reference, x: product, count: product.count)
        var bits = [UInt16](repeating: 0, count: rows * hidden)
        BFloat16Linear.forwardGELU(bits: &bits, x: x, weight: w1, bias: b1, rows: rows, inFeatures: input,
                                   outFeatures: hidden)
        for (k, (got, want)) in zip(bits.map(BFloat16.float), reference).enumerated() {
            // one bfloat16 rounding (2^-9 relative) plus oneDNN's erf approximation
            XCTAssertLessThanOrEqual(abs(got - want), 0x1p-8 * abs(want) + 1e-5, "hidden \(k): \(got) vs \(want)")
        }
        XCTAssertGreaterThan(Set(bits).count, rows * hidden / 4, "the hidden values are not degenerate")
        var fromBits = [Float](repeating: .nan, count: rows * output)
        BFloat16Linear.forward(y: &fromBits, bits: bits, weight: w2, bias: nil, rows: rows, inFeatures: hidden,
                               outFeatures: output)
        var fromFloats = [Float](repeating: .nan, count: rows * output)
        BFloat16Linear.forward(y: &fromFloats, x: bits.map(BFloat16.float), weight: w2, bias: nil, rows: rows,
                               inFeatures: hidden, outFeatures: output)
        XCTAssertEqual(fromBits, fromFloats, "bits in = their float32 values in")
    }

    /// The encoder attention with bf16 weights (projections and both per-head products in
    /// bfloat16) against float32: windowed-like and global-like grids, relative positions, query
    /// blocks with a ragged last one.
    func testEncoderAttentionInBFloat16FollowsFloat32() throws {
        try skipWithoutBFloat16()
        let shapes: [EncoderAttention.Shape] = [
            .init(batch: 2, height: 5, width: 5, channels: 32, heads: 2, useRelativePosition: true, scoreBudget: 50),
            .init(batch: 1, height: 8, width: 8, channels: 64, heads: 4, useRelativePosition: true),
            .init(batch: 3, height: 3, width: 4, channels: 16, heads: 1, useRelativePosition: false),
        ]
        for (n, s) in shapes.enumerated() {
            let c = s.channels, seed = UInt64(80 + n)
            let x = randomTensor([s.rows, c], seed: seed).data
            let qkv = randomTensor([3 * c, c], seed: seed, stream: 1, scale: 0.3).data
            let qkvBias = randomTensor([3 * c], seed: seed, stream: 2).data
            let proj = randomTensor([c, c], seed: seed, stream: 3, scale: 0.3).data
            let projBias = randomTensor([c], seed: seed, stream: 4).data
            let relH = randomTensor([2 * s.height - 1, s.headDim], seed: seed, stream: 5, scale: 0.5).data
            let relW = randomTensor([2 * s.width - 1, s.headDim], seed: seed, stream: 6, scale: 0.5).data
            let (qkvBits, projBits) = (qkv.map(BFloat16.bits), proj.map(BFloat16.bits))
            func run(reduced: Bool) -> [Float] {
                var y = [Float](repeating: .nan, count: s.rows * c)
                var saved = [Float](repeating: .nan, count: s.rows * 4 * c)
                saved.withUnsafeMutableBufferPointer { buffer in
                    let parameters = EncoderAttention.Parameters(
                        qkvWeight: qkv, qkvBias: qkvBias, projWeight: proj, projBias: projBias,
                        relPosH: relH, relPosW: relW, qkvWeightBF16: reduced ? qkvBits : nil,
                        projWeightBF16: reduced ? projBits : nil)
                    let b = buffer.baseAddress!
                    EncoderAttention.forward(y: &y, x: x, parameters: parameters, shape: s,
                                             saved: .init(qkv: b, context: b + s.rows * 3 * c))
                }
                return y
            }
            let (reference, reduced) = (run(reduced: false), run(reduced: true))
            XCTAssertGreaterThanOrEqual(VectorSimilarity.cosine(reference, reduced), 0.999, "shape \(n)")
            let scale = reference.map(abs).max()!
            XCTAssertLessThanOrEqual(zip(reference, reduced).map { abs($0 - $1) }.max()!, 0.05 * scale, "shape \(n)")
        }
    }

    /// Where the CPU lacks the instructions the support says why, naming oneDNN's instruction set.
    func testSupportIsReported() {
        let s = BFloat16Linear.support
        XCTAssertFalse(s.instructionSet.isEmpty)
        XCTAssertTrue(s.description.contains(s.instructionSet), s.description)
        if !s.available { XCTAssertTrue(s.description.contains("needs AVX512-BF16 or AMX"), s.description) }
    }
}

/// Skips (with the reason in the test log) on CPUs without bfloat16 matrix instructions.
func skipWithoutBFloat16() throws {
    try XCTSkipUnless(BFloat16Linear.support.available,
                      "bfloat16 path not tested on this CPU: \(BFloat16Linear.support)")
}
