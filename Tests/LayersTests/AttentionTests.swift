import XCTest
import Tensors
import TestSupport
import Layers

final class AttentionTests: XCTestCase {
    // MARK: EncoderAttention (SAM image encoder, ViT blocks)

    /// Grids with 1x1 tokens, odd non-square sizes, head dim 1, with/without relative positions,
    /// and score budgets that split the queries into blocks (with a ragged last block); a key grid 32
    /// wide takes the one-pass bias-and-maximum row kernel.
    let vitShapes: [EncoderAttention.Shape] = [
        .init(batch: 2, height: 3, width: 5, channels: 8, heads: 2, useRelativePosition: true),
        .init(batch: 1, height: 1, width: 1, channels: 3, heads: 1, useRelativePosition: true),
        .init(batch: 3, height: 4, width: 4, channels: 6, heads: 3, useRelativePosition: false, scoreBudget: 40),
        .init(batch: 1, height: 7, width: 2, channels: 4, heads: 4, useRelativePosition: true, scoreBudget: 1),
        .init(batch: 2, height: 3, width: 5, channels: 4, heads: 2, useRelativePosition: true, scoreBudget: 60),
        .init(batch: 1, height: 2, width: 32, channels: 4, heads: 2, useRelativePosition: true, scoreBudget: 200),
    ]

    /// [x, qkvWeight, qkvBias, projWeight, projBias, relPosH, relPosW] (tables only with rel pos).
    func vitInputs(_ s: EncoderAttention.Shape, seed: UInt64, xScale: Float = 1) -> [Tensor] {
        let c = s.channels
        var t = [randomTensor([s.batch, s.height, s.width, c], seed: seed, scale: xScale),
                 randomTensor([3 * c, c], seed: seed, stream: 1, scale: 0.5),
                 randomTensor([3 * c], seed: seed, stream: 2),
                 randomTensor([c, c], seed: seed, stream: 3, scale: 0.5), randomTensor([c], seed: seed, stream: 4)]
        if s.useRelativePosition {
            t += [randomTensor([2 * s.height - 1, s.headDim], seed: seed, stream: 5, scale: 0.5),
                  randomTensor([2 * s.width - 1, s.headDim], seed: seed, stream: 6, scale: 0.5)]
        }
        return t
    }

    func vitParameters(_ s: EncoderAttention.Shape, _ i: [UnsafePointer<Float>]) -> EncoderAttention.Parameters {
        .init(qkvWeight: i[1], qkvBias: i[2], projWeight: i[3], projBias: i[4],
              relPosH: s.useRelativePosition ? i[5] : nil, relPosW: s.useRelativePosition ? i[6] : nil)
    }

    func vitSavedShapes(_ s: EncoderAttention.Shape) -> [Tensor] {
        [Tensor(repeating: .nan, shape: [s.rows, 3 * s.channels]), Tensor(repeating: .nan, shape: [s.rows, s.channels])]
    }

    /// Returns [y, qkv, context].
    func vitForward(_ s: EncoderAttention.Shape, _ xs: [Tensor], naive: Bool = false) -> [Tensor] {
        let y = Tensor(repeating: .nan, shape: xs[0].shape)
        return runKernel(xs, outputs: [y] + vitSavedShapes(s)) { i, o in
            if naive {
                NaiveEncoderAttention.forward(y: o[0], x: i[0], parameters: vitParameters(s, i), shape: s)
            } else {
                EncoderAttention.forward(y: o[0], x: i[0], parameters: vitParameters(s, i), shape: s,
                                         saved: .init(qkv: o[1], context: o[2]))
            }
        }
    }

    func vitBackward(_ s: EncoderAttention.Shape, _ xs: [Tensor], _ dy: Tensor, into grads: [Tensor]) -> [Tensor] {
        let saved = Array(vitForward(s, xs).dropFirst())
        return runKernel(xs + saved + [dy], outputs: grads) { i, o in
            let n = xs.count
            let g = EncoderAttention.Gradients(qkvWeight: o[1], qkvBias: o[2], projWeight: o[3], projBias: o[4],
                                               relPosH: s.useRelativePosition ? o[5] : nil,
                                               relPosW: s.useRelativePosition ? o[6] : nil)
            EncoderAttention.backward(dx: o[0], gradients: g, dy: i[n + 2], x: i[0],
                                      saved: .init(qkv: UnsafeMutablePointer(mutating: i[n]),
                                                   context: UnsafeMutablePointer(mutating: i[n + 1])),
                                      parameters: vitParameters(s, i), shape: s)
        }
    }

    func testEncoderAttentionMatchesNaive() {
        for (n, s) in vitShapes.enumerated() {
            let xs = vitInputs(s, seed: UInt64(100 + n))
            assertClose(vitForward(s, xs)[0], vitForward(s, xs, naive: true)[0], atol: 2e-5, "shape \(n) \(s)")
        }
    }

    /// Large logits (peaked softmax, exp arguments far below zero) stress the polynomial exp.
    func testEncoderAttentionLargeLogitsMatchNaive() {
        let s = vitShapes[0]
        let xs = vitInputs(s, seed: 110, xScale: 6)
        assertClose(vitForward(s, xs)[0], vitForward(s, xs, naive: true)[0], atol: 1e-4, rtol: 1e-4, "large logits")
    }

    func testEncoderAttentionGradients() {
        for (n, s) in vitShapes.enumerated() {
            GradientCheck(atol: 2e-3).verify("vit attention \(n) \(s)", inputs: vitInputs(s, seed: UInt64(120 + n)),
                forward: { [vitForward(s, $0)[0]] },
                backward: { xs, dys in vitBackward(s, xs, dys[0], into: xs.map { Tensor(zeros: $0.shape) }) })
        }
    }

    func testEncoderAttentionBackwardAccumulates() {
        let s = vitShapes[0]
        let xs = vitInputs(s, seed: 130), dy = randomTensor(xs[0].shape, seed: 131)
        let once = vitBackward(s, xs, dy, into: xs.map { Tensor(zeros: $0.shape) })
        let twice = vitBackward(s, xs, dy, into: once)
        for (k, (a, b)) in zip(once, twice).enumerated() {
            XCTAssertGreaterThan(a.maxAbs, 0, "gradient \(k) is all zero")
            assertClose(b.data, a.data.map { 2 * $0 }, atol: 1e-5, "accumulated gradient \(k)")
        }
    }

    // MARK: RelativePosition alone, on a strided query view

    func testRelativePositionGradients() {
        for (b, h, w, d, ld) in [(2, 3, 4, 2, 5), (1, 1, 1, 3, 3), (1, 5, 2, 1, 4)] {
            let inputs = [randomTensor([b * h * w, ld], seed: 140), randomTensor([2 * h - 1, d], seed: 141),
                          randomTensor([2 * w - 1, d], seed: 142)]
            GradientCheck().verify("rel pos \(b)x\(h)x\(w) d\(d) ld\(ld)", inputs: inputs,
                forward: { xs in
                    runKernel(xs, outputs: [Tensor(zeros: [b * h * w, h]), Tensor(zeros: [b * h * w, w])]) { i, o in
                        RelativePosition.forward(relH: o[0], relW: o[1], q: i[0], ldq: ld, tableH: i[1], tableW: i[2],
                                                 batch: b, height: h, width: w, headDim: d)
                    }
                },
                backward: { xs, dys in
                    runKernel(xs + dys, outputs: xs.map { Tensor(zeros: $0.shape) }) { i, o in
                        RelativePosition.backward(dq: o[0], dTableH: o[1], dTableW: o[2], dRelH: i[3], dRelW: i[4],
                                                  q: i[0], ldq: ld, tableH: i[1], tableW: i[2],
                                                  batch: b, height: h, width: w, headDim: d)
                    }
                })
        }
    }

    // MARK: DecoderAttention (SAM mask decoder, two-way transformer)

    /// Up to 8 keys take `AttentionHead`'s few-keys path (the image-to-token attention: many
    /// queries, 3 keys; 70 queries leave a ragged chunk of 6), more keys the GEMM path.
    let decoderShapes: [DecoderAttention.Shape] = [
        .init(batch: 2, queries: 3, keys: 5, embeddingDim: 8, heads: 2, downsampleRate: 2),
        .init(batch: 1, queries: 1, keys: 1, embeddingDim: 4, heads: 1),
        .init(batch: 2, queries: 7, keys: 3, embeddingDim: 6, heads: 3, scoreBudget: 6),
        .init(batch: 1, queries: 70, keys: 3, embeddingDim: 8, heads: 2, downsampleRate: 2),
        .init(batch: 2, queries: 5, keys: 12, embeddingDim: 6, heads: 2, scoreBudget: 24),
    ]

    /// [q, k, v, qW, qB, kW, kB, vW, vB, outW, outB].
    func decoderInputs(_ s: DecoderAttention.Shape, seed: UInt64) -> [Tensor] {
        let (d, di) = (s.embeddingDim, s.internalDim)
        let shapes = [[s.batch, s.queries, d], [s.batch, s.keys, d], [s.batch, s.keys, d],
                      [di, d], [di], [di, d], [di], [di, d], [di], [d, di], [d]]
        return shapes.enumerated().map { randomTensor($1, seed: seed, stream: UInt64($0), scale: $0 < 3 ? 1 : 0.5) }
    }

    func decoderParameters(_ i: [UnsafePointer<Float>]) -> DecoderAttention.Parameters {
        .init(qWeight: i[3], qBias: i[4], kWeight: i[5], kBias: i[6], vWeight: i[7], vBias: i[8], outWeight: i[9],
              outBias: i[10])
    }

    /// Returns [y, q', k', v', context].
    func decoderForward(_ s: DecoderAttention.Shape, _ xs: [Tensor], naive: Bool = false) -> [Tensor] {
        let di = s.internalDim
        let outs = [Tensor(repeating: .nan, shape: xs[0].shape),
                    Tensor(repeating: .nan, shape: [s.batch * s.queries, di]),
                    Tensor(repeating: .nan, shape: [s.batch * s.keys, di]),
                    Tensor(repeating: .nan, shape: [s.batch * s.keys, di]),
                    Tensor(repeating: .nan, shape: [s.batch * s.queries, di])]
        return runKernel(xs, outputs: outs) { i, o in
            if naive {
                NaiveDecoderAttention.forward(y: o[0], q: i[0], k: i[1], v: i[2], parameters: decoderParameters(i),
                                              shape: s)
            } else {
                DecoderAttention.forward(y: o[0], q: i[0], k: i[1], v: i[2], parameters: decoderParameters(i), shape: s,
                                         saved: .init(q: o[1], k: o[2], v: o[3], context: o[4]))
            }
        }
    }

    func decoderBackward(_ s: DecoderAttention.Shape, _ xs: [Tensor], _ dy: Tensor) -> [Tensor] {
        let saved = Array(decoderForward(s, xs).dropFirst())
        return runKernel(xs + saved + [dy], outputs: xs.map { Tensor(zeros: $0.shape) }) { i, o in
            let n = xs.count
            let g = DecoderAttention.Gradients(qWeight: o[3], qBias: o[4], kWeight: o[5], kBias: o[6],
                                               vWeight: o[7], vBias: o[8], outWeight: o[9], outBias: o[10])
            let m = (n..<n + 4).map { UnsafeMutablePointer(mutating: i[$0]) }
            DecoderAttention.backward(dq: o[0], dk: o[1], dv: o[2], gradients: g, dy: i[n + 4], q: i[0], k: i[1],
                                      v: i[2], saved: .init(q: m[0], k: m[1], v: m[2], context: m[3]),
                                      parameters: decoderParameters(i), shape: s)
        }
    }

    func testDecoderAttentionMatchesNaive() {
        for (n, s) in decoderShapes.enumerated() {
            let xs = decoderInputs(s, seed: UInt64(200 + n))
            assertClose(decoderForward(s, xs)[0], decoderForward(s, xs, naive: true)[0], atol: 2e-5, "shape \(n) \(s)")
        }
    }

    func testDecoderAttentionGradients() {
        for (n, s) in decoderShapes.enumerated() {
            GradientCheck(atol: 2e-3).verify("decoder attention \(n) \(s)",
                                             inputs: decoderInputs(s, seed: UInt64(210 + n)),
                forward: { [decoderForward(s, $0)[0]] },
                backward: { xs, dys in decoderBackward(s, xs, dys[0]) })
        }
    }

    /// Self-attention passes the same tensor as q and k; their gradients may share one buffer.
    func testDecoderAttentionAliasedInputGradientsAccumulate() {
        let s = DecoderAttention.Shape(batch: 2, queries: 4, keys: 4, embeddingDim: 6, heads: 2)
        var xs = decoderInputs(s, seed: 220)
        xs[1] = xs[0]
        let separate = decoderBackward(s, xs, randomTensor(xs[0].shape, seed: 221))
        let saved = Array(decoderForward(s, xs).dropFirst())
        let aliased = runKernel(xs + saved + [randomTensor(xs[0].shape, seed: 221)],
                                outputs: [Tensor(zeros: xs[0].shape)]) { i, o in
            let n = xs.count
            let m = (n..<n + 4).map { UnsafeMutablePointer(mutating: i[$0]) }
            DecoderAttention.backward(dq: o[0], dk: o[0], dv: nil, gradients: .init(), dy: i[n + 4], q: i[0], k: i[0],
                                      v: i[2], saved: .init(q: m[0], k: m[1], v: m[2], context: m[3]),
                                      parameters: decoderParameters(i), shape: s)
        }[0]
        assertClose(aliased.data, zip(separate[0].data, separate[1].data).map { $0 + $1 }, atol: 1e-5, "dq + dk")
    }
}
