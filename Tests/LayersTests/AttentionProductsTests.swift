import XCTest
import Tensors
import TestSupport
@testable import Layers

/// The encoder's per-head float32 products through oneDNN (AVX-512 CPUs) against OpenBLAS's: same
/// attention output and saved probabilities path, on strided views with a decomposed bias and query
/// blocks with a ragged last one. Skipped, with the reason, where oneDNN has no AVX-512.
final class AttentionProductsTests: XCTestCase {
    func testOneDNNProductsMatchOpenBLAS() throws {
        try XCTSkipUnless(BFloat16Linear.support.hasAVX512,
                          "oneDNN float32 attention products are used only with AVX-512: \(BFloat16Linear.support)")
        let (side, d, ld) = (6, 8, 40)   // a 6 x 6 key grid, head dim 8, views 40 floats apart
        let n = side * side
        let qkv = randomTensor([n, ld], seed: 91).data, rel = randomTensor([2 * n * side], seed: 92).data
        var outputs: [[Float]] = []
        for oneDNN in [false, true] {
            var head = AttentionHead(queries: n, keys: n, headDim: d, scale: 0.35, scoreBudget: 5 * n, ldq: ld,
                                     ldk: ld, ldv: ld, ldo: d)
            head.oneDNNProducts = oneDNN
            var o = [Float](repeating: .nan, count: n * d)
            var scratch = [Float](repeating: .nan, count: head.forwardScratchCount)
            qkv.withUnsafeBufferPointer { x in
                rel.withUnsafeBufferPointer { r in
                    let bias = AttentionHead.Bias(relH: r.baseAddress!, relW: r.baseAddress! + n * side,
                                                  keyHeight: side, keyWidth: side)
                    head.forward(o: &o, scratch: &scratch, q: x.baseAddress!, k: x.baseAddress! + d,
                                 v: x.baseAddress! + 2 * d, bias: bias)
                }
            }
            outputs.append(o)
        }
        XCTAssertTrue(outputs[0].allSatisfy(\.isFinite))
        assertClose(outputs[1], outputs[0], atol: 1e-5, "oneDNN vs OpenBLAS products")
    }
}
