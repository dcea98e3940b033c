import XCTest
import TensorFiles
import Tensors
import TestSupport
import Layers

final class ConvTests: XCTestCase {
    struct Case { var shape: Conv2d.Shape; var bias: Bool; var budget = Conv2d.defaultColumnBudget }

    /// Awkward geometries: pointwise, 3x3 pad 1 split into one-row bands, stride 2 with a
    /// non-divisible size and one channel, a 1x1 grid, a patch embedding whose kernel does not tile
    /// the image, a rectangular kernel, a strided padded 1x1, and a kernel larger than the image.
    let cases: [Case] = [
        Case(shape: .init(batch: 2, inChannels: 3, outChannels: 4, height: 5, width: 3, kernel: 1), bias: true),
        Case(shape: .init(batch: 1, inChannels: 2, outChannels: 3, height: 7, width: 5, kernel: 3, padding: 1),
             bias: true, budget: 1),
        Case(shape: .init(batch: 2, inChannels: 1, outChannels: 1, height: 6, width: 7, kernel: 3, stride: 2,
                          padding: 1),
             bias: false),
        Case(shape: .init(batch: 1, inChannels: 2, outChannels: 2, height: 1, width: 1, kernel: 3, padding: 1),
             bias: true),
        Case(shape: .init(batch: 1, inChannels: 3, outChannels: 5, height: 9, width: 8, kernel: 4, stride: 4),
             bias: true),
        Case(shape: .init(batch: 1, inChannels: 2, outChannels: 3, height: 5, width: 4, kernelHeight: 2, kernelWidth: 3,
                          strideHeight: 2, strideWidth: 1, padHeight: 0, padWidth: 1), bias: false, budget: 20),
        Case(shape: .init(batch: 1, inChannels: 2, outChannels: 2, height: 5, width: 5, kernel: 1, stride: 2,
                          padding: 1),
             bias: true),
        Case(shape: .init(batch: 1, inChannels: 1, outChannels: 2, height: 3, width: 2, kernel: 5, padding: 2),
             bias: true),
    ]

    func inputs(_ c: Case, seed: UInt64) -> [Tensor] {
        let s = c.shape
        var t = [randomTensor([s.batch, s.inChannels, s.height, s.width], seed: seed),
                 randomTensor([s.outChannels, s.inChannels, s.kernelHeight, s.kernelWidth], seed: seed, stream: 1,
                              scale: 0.5)]
        if c.bias { t.append(randomTensor([s.outChannels], seed: seed, stream: 2)) }
        return t
    }

    func conv(_ c: Case, _ xs: [Tensor], naive: Bool = false) -> Tensor {
        let s = c.shape
        let output = Tensor(repeating: .nan, shape: [s.batch, s.outChannels, s.outHeight, s.outWidth])
        return runKernel(xs, outputs: [output]) { i, o in
            let bias = c.bias ? i[2] : nil
            if naive {
                NaiveConv2d.forward(y: o[0], x: i[0], weight: i[1], bias: bias, shape: s)
            } else {
                Conv2d.forward(y: o[0], x: i[0], weight: i[1], bias: bias, shape: s, columnBudget: c.budget)
            }
        }[0]
    }

    func convBackward(_ c: Case, _ xs: [Tensor], _ dy: Tensor, into grads: [Tensor]) -> [Tensor] {
        runKernel(xs + [dy], outputs: grads) { i, o in
            Conv2d.backward(dx: o[0], dWeight: o[1], dBias: c.bias ? o[2] : nil, dy: i[xs.count], x: i[0], weight: i[1],
                            shape: c.shape, columnBudget: c.budget)
        }
    }

    func testConvMatchesNaive() {
        for (n, c) in cases.enumerated() {
            let xs = inputs(c, seed: UInt64(10 + n))
            assertClose(conv(c, xs), conv(c, xs, naive: true), atol: 1e-5, "case \(n) \(c.shape)")
        }
    }

    func testConvGradients() {
        for (n, c) in cases.enumerated() {
            GradientCheck().verify("conv case \(n)", inputs: inputs(c, seed: UInt64(20 + n)),
                forward: { [conv(c, $0)] },
                backward: { xs, dys in convBackward(c, xs, dys[0], into: xs.map { Tensor(zeros: $0.shape) }) })
        }
    }

    func testConvBackwardAccumulates() {
        let c = cases[1]
        let xs = inputs(c, seed: 30), dy = randomTensor([1, 3, 7, 5], seed: 31)
        let once = convBackward(c, xs, dy, into: xs.map { Tensor(zeros: $0.shape) })
        let twice = convBackward(c, xs, dy, into: once)
        for (a, b) in zip(once, twice) { assertClose(b.data, a.data.map { 2 * $0 }, atol: 1e-5, "accumulated") }
    }

    /// SAM's patch embedding (Conv2d patch x patch, stride patch, with bias) against PyTorch.
    func testPatchEmbeddingMatchesPyTorch() throws {
        let fixture = try Fixtures.file("encoder"), weights = try Fixtures.file("tiny_sam")
        let x = try fixture.tensor("input")
        let w = try weights.tensor("image_encoder.patch_embed.proj.weight")   // (E, 3, patch, patch)
        let b = try weights.tensor("image_encoder.patch_embed.proj.bias")
        let expected = try fixture.tensor("patch_embed_out")   // (1, grid, grid, E) NHWC
        let patch = w.shape[2]
        XCTAssertEqual(patch, Fixtures.config["patch_size"] as? Int)
        let c = Case(shape: .init(batch: x.shape[0], inChannels: x.shape[1], outChannels: w.shape[0],
                                  height: x.shape[2],
                                  width: x.shape[3], kernel: patch, stride: patch), bias: true)
        let y = conv(c, [x, w, b]).permuted([0, 2, 3, 1])
        assertClose(y, expected, atol: Fixtures.suggestedAtol("encoder", "patch_embed_out"), "patch_embed_out")
    }

    // MARK: ConvTranspose2d (kernel 2, stride 2)

    /// `budget`: elements of one band's GEMM output (the last case: bands of 2, 2, 2 and 1 rows).
    struct TCase { var b, i, o, h, w: Int; var bias: Bool; var budget = ConvTranspose2d.defaultBandBudget }
    let tcases = [TCase(b: 2, i: 3, o: 4, h: 3, w: 5, bias: true), TCase(b: 1, i: 1, o: 1, h: 1, w: 1, bias: true),
                  TCase(b: 1, i: 4, o: 2, h: 2, w: 1, bias: false), TCase(b: 3, i: 2, o: 3, h: 1, w: 4, bias: true),
                  TCase(b: 2, i: 3, o: 2, h: 7, w: 5, bias: true, budget: 80)]

    func tinputs(_ c: TCase, seed: UInt64) -> [Tensor] {
        var t = [randomTensor([c.b, c.i, c.h, c.w], seed: seed), randomTensor([c.i, c.o, 2, 2], seed: seed, stream: 1)]
        if c.bias { t.append(randomTensor([c.o], seed: seed, stream: 2)) }
        return t
    }

    func convT(_ c: TCase, _ xs: [Tensor], naive: Bool = false) -> Tensor {
        runKernel(xs, outputs: [Tensor(repeating: .nan, shape: [c.b, c.o, 2 * c.h, 2 * c.w])]) { i, o in
            let bias = c.bias ? i[2] : nil
            if naive {
                NaiveConvTranspose2d.forward(y: o[0], x: i[0], weight: i[1], bias: bias,
                                             batch: c.b, inChannels: c.i, outChannels: c.o, height: c.h, width: c.w)
            } else {
                ConvTranspose2d.forward(y: o[0], x: i[0], weight: i[1], bias: bias, batch: c.b, inChannels: c.i,
                                        outChannels: c.o, height: c.h, width: c.w, bandBudget: c.budget)
            }
        }[0]
    }

    func convTBackward(_ c: TCase, _ xs: [Tensor], _ dy: Tensor, into grads: [Tensor]) -> [Tensor] {
        runKernel(xs + [dy], outputs: grads) { i, o in
            ConvTranspose2d.backward(dx: o[0], dWeight: o[1], dBias: c.bias ? o[2] : nil, dy: i[xs.count], x: i[0],
                                     weight: i[1], batch: c.b, inChannels: c.i, outChannels: c.o, height: c.h,
                                     width: c.w, bandBudget: c.budget)
        }
    }

    func testConvTransposeMatchesNaive() {
        for (n, c) in tcases.enumerated() {
            let xs = tinputs(c, seed: UInt64(40 + n))
            assertClose(convT(c, xs), convT(c, xs, naive: true), atol: 1e-5, "convT case \(n)")
        }
    }

    func testConvTransposeGradients() {
        for (n, c) in tcases.enumerated() {
            GradientCheck().verify("convT case \(n)", inputs: tinputs(c, seed: UInt64(50 + n)),
                forward: { [convT(c, $0)] },
                backward: { xs, dys in convTBackward(c, xs, dys[0], into: xs.map { Tensor(zeros: $0.shape) }) })
        }
    }

    /// The epilogue sees every output element exactly once, after it was written.
    func testConvTransposeEpilogueCoversTheOutputOnce() {
        for (n, c) in tcases.enumerated() {
            let xs = tinputs(c, seed: UInt64(70 + n)), plain = convT(c, xs)
            let mapped = runKernel(xs, outputs: [Tensor(repeating: .nan, shape: plain.shape)]) { i, o in
                let y = o[0]
                ConvTranspose2d.forward(y: y, x: i[0], weight: i[1], bias: c.bias ? i[2] : nil, batch: c.b,
                                        inChannels: c.i, outChannels: c.o, height: c.h, width: c.w,
                                        bandBudget: c.budget) { offset, count in
                    for j in offset..<offset + count { y[j] = 2 * y[j] + 1 }
                }
            }[0]
            XCTAssertEqual(mapped.data, plain.data.map { 2 * $0 + 1 }, "convT case \(n) epilogue")
        }
    }

    func testConvTransposeBackwardAccumulates() {
        let c = tcases[0]
        let xs = tinputs(c, seed: 60), dy = randomTensor([c.b, c.o, 2 * c.h, 2 * c.w], seed: 61)
        let once = convTBackward(c, xs, dy, into: xs.map { Tensor(zeros: $0.shape) })
        let twice = convTBackward(c, xs, dy, into: once)
        for (a, b) in zip(once, twice) { assertClose(b.data, a.data.map { 2 * $0 }, atol: 1e-5, "accumulated") }
    }
}
