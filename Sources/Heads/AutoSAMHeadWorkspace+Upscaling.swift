import Layers
import SAM
import Tensors

/// The output upscaling and the mask product, one (image, class) row at a time, so that the large
/// per-row tensors (u2 and the upscaled embedding, C2 16 P floats each) exist for one row only.
/// Forward keeps u1 (C1 4 P floats) per row; backward recomputes the rest and the upscaled embedding
/// from it (`MaskDecoder.Upscaling.recompute`, the same arithmetic as forward, so the values match
/// bit for bit) before the row's backward. Measured at B4 K4 (R = 16 rows, D 256, 64 x 64): the saved
/// upscaling state falls from 100M to 17M floats for one more second transposed convolution per row.
extension AutoSAMHeadWorkspace.Buffers {
    /// masks (R, 16 P) <- hypernetwork-0 output (R, C2) . output_upscaling(src as (R, D, h, w)).
    func upscaleAndProject(masks: UnsafeMutablePointer<Float>, weights: MaskDecoder.Upscaling.Weights,
                           keep: Bool) {
        let hyper = hypernetworks[0].output.pointer, c2 = hypernetworks[0].shape.outputDim
        let q = rowUpscaled.count
        var kept = keep ? [Float](repeating: 0, count: rows * q) : nil
        for (r, a) in upscaling.enumerated() {
            loadRowChannels(r)
            MaskDecoder.Upscaling.forward(y: rowUpscaled.pointer, x: rowChannels.pointer, weights: weights,
                                          activations: a)
            MaskDecoder.MaskProduct.forward(masks: masks + r * (q / c2), hyper: hyper + r * c2,
                                            upscaled: rowUpscaled.pointer, batch: 1, masks: 1, channels: c2,
                                            pixels: q / c2)
            kept?.withUnsafeMutableBufferPointer {
                ($0.baseAddress! + r * q).update(from: rowUpscaled.pointer, count: q)
            }
        }
        keptUpscaled = kept
    }

    /// Backward of `upscaleAndProject` from dMasks (R, 16 P): gradientHyper (R, C2) += dL/d hyper,
    /// the upscaling's parameter gradients, and gradientKeys (R, P, D) <- dL/d src.
    func upscaleAndProjectBackward(dMasks: UnsafePointer<Float>, weights: MaskDecoder.Upscaling.Weights,
                                   gradients: MaskDecoder.Upscaling.Weights) {
        let hyper = hypernetworks[0].output.pointer, c2 = hypernetworks[0].shape.outputDim
        let q = rowUpscaled.count, pixels = q / c2, imageStride = height * width * dim
        let up = rowUpscaled.pointer
        for (r, a) in upscaling.enumerated() {
            loadRowChannels(r)
            MaskDecoder.Upscaling.recompute(y: up, weights: weights, activations: a)
            let rowMasks = dMasks + r * pixels
            MaskDecoder.MaskProduct.backward(dHyper: gradientHyper.pointer + r * c2, dUpscaled: nil, dMasks: rowMasks,
                                             hyper: hyper + r * c2, upscaled: up, batch: 1, masks: 1, channels: c2,
                                             pixels: pixels)
            up.update(repeating: 0, count: q)   // the row's upscaled embedding is dead: its gradient goes here
            MaskDecoder.MaskProduct.backward(dHyper: nil, dUpscaled: up, dMasks: rowMasks, hyper: hyper + r * c2,
                                             upscaled: up, batch: 1, masks: 1, channels: c2, pixels: pixels)
            gradientRow.pointer.update(repeating: 0, count: gradientRow.count)
            MaskDecoder.Upscaling.backward(dx: gradientRow.pointer, gradients: gradients, dy: up,
                                           x: rowChannels.pointer, weights: weights, activations: a)
            TwoWayTransformer.channelsToTokens(y: gradientKeys.pointer + r * imageStride, x: gradientRow.pointer,
                                               batch: 1, channels: dim, pixels: height * width)
        }
    }

    /// rowChannels (D, h, w) <- row r of the transformer's src (P, D).
    private func loadRowChannels(_ r: Int) {
        let p = height * width
        TwoWayTransformer.tokensToChannels(y: rowChannels.pointer, x: transformer.keys + r * p * dim, batch: 1,
                                           channels: dim, pixels: p)
    }
}
