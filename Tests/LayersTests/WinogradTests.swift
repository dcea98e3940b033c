import Layers
import Tensors
import TestSupport
import XCTest

/// `Conv2dWinograd` against direct double-precision convolutions (`NaiveConv2d` and the two loops
/// below for the gradients), on awkward sizes: 1 x 1 to 33 x 33 planes (odd, smaller than a tile,
/// not a multiple of the tile), 1 to 70 channels, batches of 1 to 3, with and without bias.
///
/// Tolerance: every output is a sum of n products (n = 9I for y, 9O for dx, B*H*W for dW). An fp32
/// sum of n products rounds to within about sqrt(n) * eps * S of the exact value for independent
/// rounding errors, S = sum |x| |w| its magnitude (the worst case, n * eps * S, is never approached by
/// these data). Winograd adds a constant factor: the transforms mix a tile's values with bounded weights
/// (row sums of |B^T|, |G|, |A^T| at most 2, 1.5, 3 for F(2x2); 14, 1.9, 11.1 for F(4x4)) before and after the
/// GEMM, so its error is `factor * sqrt(n) * eps * max S` with a factor that does not grow with n.
/// The factors below leave a 16-18x margin over the errors observed, for other GEMM kernels' rounding.
final class WinogradTests: XCTestCase {
    struct Case { var b, i, o, h, w: Int; var bias: Bool }

    let cases = [Case(b: 1, i: 1, o: 1, h: 1, w: 1, bias: true), Case(b: 2, i: 3, o: 5, h: 2, w: 3, bias: false),
                 Case(b: 3, i: 7, o: 4, h: 3, w: 7, bias: true), Case(b: 1, i: 16, o: 70, h: 8, w: 8, bias: true),
                 Case(b: 2, i: 70, o: 33, h: 7, w: 33, bias: false), Case(b: 1, i: 64, o: 64, h: 33, w: 33, bias: true),
                 Case(b: 3, i: 5, o: 9, h: 33, w: 2, bias: true), Case(b: 1, i: 70, o: 1, h: 1, w: 8, bias: false),
                 Case(b: 2, i: 2, o: 70, h: 8, w: 1, bias: true), Case(b: 1, i: 128, o: 96, h: 20, w: 20, bias: true)]

    /// Error factors (see the type comment) for F(2x2) and F(4x4); the largest observed ratios
    /// max |error| / (sqrt(n) * eps * max S) over these cases were 0.22 and 2.0 (AMD Zen 4, OpenBLAS Cooperlake).
    let factors: [Int: Double] = [2: 4, 4: 32]

    func shape(_ c: Case) -> Conv2d.Shape {
        Conv2d.Shape(batch: c.b, inChannels: c.i, outChannels: c.o, height: c.h, width: c.w, kernel: 3, padding: 1)
    }

    func inputs(_ c: Case, seed: UInt64) -> (x: Tensor, w: Tensor, bias: Tensor, dy: Tensor) {
        (randomTensor([c.b, c.i, c.h, c.w], seed: seed), randomTensor([c.o, c.i, 3, 3], seed: seed, stream: 1),
         randomTensor([c.o], seed: seed, stream: 2), randomTensor([c.b, c.o, c.h, c.w], seed: seed, stream: 3))
    }

    /// Fails unless |actual - exact| <= factor * sqrt(n) * eps * max(magnitude) everywhere.
    func assertWithinBound(_ actual: [Float], _ exact: [Double], magnitude: [Double], terms n: Int, m: Int,
                           _ name: String) {
        let scale = sqrt(Double(n)) * Double(Float.ulpOfOne) * (magnitude.max() ?? 0)
        let worst = zip(actual, exact).map { abs(Double($0) - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(worst, factors[m]! * scale + Double(Float.leastNormalMagnitude), name)
    }

    func testForwardMatchesNaive() {
        for transform in [WinogradTransform.f2, .f4] {
            for (n, c) in cases.enumerated() {
                let s = shape(c), (x, w, bias, _) = inputs(c, seed: UInt64(100 + n))
                let y = runKernel([x, w, bias], outputs: [Tensor(repeating: .nan, shape: [c.b, c.o, c.h, c.w])]) {
                    // Even cases with one tile row per band.
                    Conv2dWinograd.forward(y: $1[0], x: $0[0], weight: $0[1], bias: c.bias ? $0[2] : nil, shape: s,
                                           transform: transform, budget: n % 2 == 0 ? 1 : Conv2dWinograd.defaultBudget)
                }[0]
                let exact = Reference.forward(x.data, w.data, c.bias ? bias.data : nil, c)
                let magnitude = Reference.forward(x.data.map(abs), w.data.map(abs), c.bias ? bias.data.map(abs) : nil,
                                                  c)
                assertWithinBound(y.data, exact, magnitude: magnitude, terms: 9 * c.i + 1, m: transform.m,
                                  "forward F(\(transform.m)) case \(n)")
            }
        }
    }

    func testBackwardMatchesNaive() {
        for transform in [WinogradTransform.f2, .f4] {
            for (n, c) in cases.enumerated() {
                let s = shape(c), (x, w, _, dy) = inputs(c, seed: UInt64(200 + n))
                // Start from ones: the backward accumulates.
                let grads = runKernel([x, w, dy], outputs: [Tensor(repeating: 1, shape: x.shape),
                                                            Tensor(repeating: 1, shape: w.shape)]) {
                    Conv2dWinograd.backward(dx: $1[0], dWeight: $1[1], dy: $0[2], x: $0[0], weight: $0[1], shape: s,
                                            transform: transform, budget: n % 2 == 1 ? 1 : Conv2dWinograd.defaultBudget)
                }
                let dx = Reference.inputGradient(dy.data, w.data, c).map { $0 + 1 }
                let dxMagnitude = Reference.inputGradient(dy.data.map(abs), w.data.map(abs), c).map { $0 + 1 }
                assertWithinBound(grads[0].data, dx, magnitude: dxMagnitude, terms: 9 * c.o + 1, m: transform.m,
                                  "dx F(\(transform.m)) case \(n)")
                let dW = Reference.weightGradient(dy.data, x.data, c).map { $0 + 1 }
                let dWMagnitude = Reference.weightGradient(dy.data.map(abs), x.data.map(abs), c).map { $0 + 1 }
                assertWithinBound(grads[1].data, dW, magnitude: dWMagnitude, terms: c.b * c.h * c.w + 1,
                                  m: transform.m, "dW F(\(transform.m)) case \(n)")
            }
        }
    }

    /// `Conv2d` dispatches large 3x3 pad-1 convolutions here, F(4x4) on large planes with enough tiles;
    /// `useWinograd = false` gives im2col.
    func testConv2dDispatch() {
        XCTAssertFalse(Conv2dWinograd.applies(to: .init(batch: 2, inChannels: 32, outChannels: 40, height: 17,
                                                        width: 16, kernel: 3, stride: 2, padding: 1)))
        XCTAssertEqual(Conv2dWinograd.transform(for: .init(batch: 4, inChannels: 1024, outChannels: 1024, height: 14,
                                                           width: 14, kernel: 3, padding: 1)), .f2)
        for (c, tile) in [(Case(b: 2, i: 32, o: 40, h: 17, w: 16, bias: true), WinogradTransform.f2),
                          (Case(b: 2, i: 32, o: 40, h: 32, w: 32, bias: true), .f4)] {
            let s = shape(c), (x, w, bias, dy) = inputs(c, seed: 3)
            XCTAssertTrue(Conv2dWinograd.applies(to: s))
            XCTAssertEqual(Conv2dWinograd.transform(for: s), tile)
            func run(winograd: Bool) -> [Tensor] {
                let before = Conv2d.useWinograd
                defer { Conv2d.useWinograd = before }
                Conv2d.useWinograd = winograd
                let outputs = [Tensor(zeros: dy.shape), Tensor(zeros: x.shape), Tensor(zeros: w.shape),
                               Tensor(zeros: bias.shape)]
                return runKernel([x, w, bias, dy], outputs: outputs) { i, o in
                    Conv2d.forward(y: o[0], x: i[0], weight: i[1], bias: i[2], shape: s)
                    Conv2d.backward(dx: o[1], dWeight: o[2], dBias: o[3], dy: i[3], x: i[0], weight: i[1], shape: s)
                }
            }
            let (winograd, im2col) = (run(winograd: true), run(winograd: false))
            XCTAssertNotEqual(winograd[0].data, im2col[0].data, "expected the Winograd path to round differently")
            for (k, name) in ["y", "dx", "dW", "dBias"].enumerated() {
                let maxAbs = im2col[k].data.map(abs).max()!
                assertClose(winograd[k], im2col[k], atol: 1e-5 * maxAbs, rtol: 0, "F(\(tile.m)) \(name)")
            }
        }
    }

    /// The transforms run on every core (`RowParallel`, one channel per chunk): the same bits with
    /// the transforms in one chunk or split, BLAS at 2 threads in both runs (OpenBLAS's Haswell
    /// kernels round differently with 1 and 2 threads), then 1 and 2 BLAS threads. F(2x2) then
    /// F(4x4) on the same buffers: y is F(4x4)'s, dx and dW accumulate both.
    func testThreadCountIndependence() {
        let c = Case(b: 2, i: 48, o: 40, h: 33, w: 30, bias: true), s = shape(c), (x, w, bias, dy) = inputs(c, seed: 4)
        func run() -> [Float] {
            runKernel([x, w, bias, dy], outputs: [Tensor(zeros: dy.shape), Tensor(zeros: x.shape),
                                                  Tensor(zeros: w.shape)]) { i, o in
                for t in [WinogradTransform.f2, .f4] {
                    Conv2dWinograd.forward(y: o[0], x: i[0], weight: i[1], bias: i[2], shape: s, transform: t)
                    Conv2dWinograd.backward(dx: o[1], dWeight: o[2], dy: i[3], x: i[0], weight: i[1], shape: s,
                                            transform: t)
                }
            }.flatMap(\.data)
        }
        XCTAssertTrue(sameBits(resultsSerialAndSplit(run)), "Winograd depends on how its transforms are split")
        // Each transform position's GEMM runs on one BLAS thread whatever the thread count.
        let before = BLASRuntime.threads
        defer { BLASRuntime.setThreads(before) }
        BLASRuntime.setThreads(1)
        let one = run()
        BLASRuntime.setThreads(2)
        XCTAssertTrue(sameBits((one, run())), "Winograd depends on the BLAS thread count")
    }
}

/// Direct 3x3 pad-1 convolution and its gradients in double precision (x, w, dy as in `Conv2d`).
private enum Reference {
    typealias Case = WinogradTests.Case

    /// Calls body(b, o, i, oy, ox, iy, ix, ky, kx) for every product of the convolution.
    static func forEachProduct(_ c: Case, _ body: (Int, Int, Int, Int, Int, Int, Int, Int, Int) -> Void) {
        for b in 0..<c.b { for o in 0..<c.o { for i in 0..<c.i { for oy in 0..<c.h { for ox in 0..<c.w {
            for ky in 0..<3 { for kx in 0..<3 {
                let (iy, ix) = (oy + ky - 1, ox + kx - 1)
                if iy >= 0 && iy < c.h && ix >= 0 && ix < c.w { body(b, o, i, oy, ox, iy, ix, ky, kx) }
            } }
        } } } } }
    }

    static func forward(_ x: [Float], _ w: [Float], _ bias: [Float]?, _ c: Case) -> [Double] {
        var y = [Double](repeating: 0, count: c.b * c.o * c.h * c.w)
        forEachProduct(c) { b, o, i, oy, ox, iy, ix, ky, kx in
            y[((b * c.o + o) * c.h + oy) * c.w + ox] += Double(x[((b * c.i + i) * c.h + iy) * c.w + ix])
                * Double(w[((o * c.i + i) * 3 + ky) * 3 + kx])
        }
        if let bias { for k in y.indices { y[k] += Double(bias[(k / (c.h * c.w)) % c.o]) } }
        return y
    }

    static func inputGradient(_ dy: [Float], _ w: [Float], _ c: Case) -> [Double] {
        var dx = [Double](repeating: 0, count: c.b * c.i * c.h * c.w)
        forEachProduct(c) { b, o, i, oy, ox, iy, ix, ky, kx in
            dx[((b * c.i + i) * c.h + iy) * c.w + ix] += Double(dy[((b * c.o + o) * c.h + oy) * c.w + ox])
                * Double(w[((o * c.i + i) * 3 + ky) * 3 + kx])
        }
        return dx
    }

    static func weightGradient(_ dy: [Float], _ x: [Float], _ c: Case) -> [Double] {
        var dW = [Double](repeating: 0, count: c.o * c.i * 9)
        forEachProduct(c) { b, o, i, oy, ox, iy, ix, ky, kx in
            dW[((o * c.i + i) * 3 + ky) * 3 + kx] += Double(dy[((b * c.o + o) * c.h + oy) * c.w + ox])
                * Double(x[((b * c.i + i) * c.h + iy) * c.w + ix])
        }
        return dW
    }
}
