import Tensors

extension MaskDecoder {
    /// The hypernetwork product `masks = hyper_in @ upscaled.view(B, C, Q)`: every mask is the
    /// dot product of its hypernetwork output with each upscaled pixel.
    /// ref: segment_anything/modeling/mask_decoder.py @ dca509f, `MaskDecoder.predict_masks`
    /// (`masks = (hyper_in @ upscaled_embedding.view(b, c, h * w))`).
    ///
    /// Shapes: B batch, M masks, C upscaled channels (D/8), Q = 4h * 4w pixels.
    /// hyper (B, M, C), upscaled (B, C, Q), masks (B, M, Q).
    public enum MaskProduct {
        /// masks (B, M, Q) <- hyper (B, M, C) @ upscaled (B, C, Q).
        public static func forward(masks: UnsafeMutablePointer<Float>, hyper: UnsafePointer<Float>,
                                   upscaled: UnsafePointer<Float>, batch: Int, masks m: Int, channels c: Int,
                                   pixels q: Int) {
            Gemm.batched(count: batch, m: m, n: q, k: c, a: hyper, lda: c, strideA: m * c,
                         b: upscaled, ldb: q, strideB: c * q, c: masks, ldc: q, strideC: m * q)
        }

        /// Accumulates dHyper += dMasks @ upscaled^T and dUpscaled += hyper^T @ dMasks (nil: skipped).
        public static func backward(dHyper: UnsafeMutablePointer<Float>?, dUpscaled: UnsafeMutablePointer<Float>?,
                                    dMasks: UnsafePointer<Float>, hyper: UnsafePointer<Float>,
                                    upscaled: UnsafePointer<Float>, batch: Int, masks m: Int, channels c: Int,
                                    pixels q: Int) {
            if let dHyper {
                Gemm.batched(count: batch, transB: true, m: m, n: c, k: q, a: dMasks, lda: q, strideA: m * q,
                             b: upscaled, ldb: q, strideB: c * q, beta: 1, c: dHyper, ldc: c, strideC: m * c)
            }
            if let dUpscaled {
                Gemm.batched(count: batch, transA: true, m: c, n: q, k: m, a: hyper, lda: c, strideA: m * c,
                             b: dMasks, ldb: q, strideB: m * q, beta: 1, c: dUpscaled, ldc: q, strideC: c * q)
            }
        }
    }
}
