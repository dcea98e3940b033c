import Layers
import Tensors

extension PromptEncoder {
    /// LayerNorm2d eps of `mask_downscaling` (SAM's default).
    static let maskLayerNormEps: Float = 1e-6

    /// `_embed_masks`: mask input (B, 1, 4h, 4w) -> (B, D, h, w) through `mask_downscaling`:
    /// Conv2d(1, C/4, k2 s2) -> LayerNorm2d -> GELU -> Conv2d(C/4, C, k2 s2) -> LayerNorm2d -> GELU
    /// -> Conv2d(C, D, 1). ref: prompt_encoder.py @ dca509f,
    /// `mask_downscaling` and `_embed_masks`.
    public func embedMasks(_ masks: Tensor) -> Tensor {
        let c = config, b = masks.shape[0]
        precondition(masks.shape == [b, 1, c.maskInputHeight, c.maskInputWidth],
                     "mask input must be (B, 1, \(c.maskInputHeight), \(c.maskInputWidth)), got \(masks.shape)")
        let quarter = stage(masks, conv: "0", norm: "1", outChannels: c.maskInChans / 4)   // (B, C/4, 2h, 2w)
        let full = stage(quarter, conv: "3", norm: "4", outChannels: c.maskInChans)       // (B, C, h, w)
        return convolve(full, "6", outChannels: c.embedDim, kernel: 1)
    }

    /// Conv2d (k2 s2) -> LayerNorm2d -> GELU of `mask_downscaling.<conv>` / `.<norm>`.
    private func stage(_ x: Tensor, conv: String, norm: String, outChannels: Int) -> Tensor {
        var y = convolve(x, conv, outChannels: outChannels, kernel: 2)
        let (b, pixels, count) = (y.shape[0], y.shape[2] * y.shape[3], y.count)
        var mean = [Float](repeating: 0, count: b * pixels), rstd = mean
        let w = layout.tensor(Self.prefix + "mask_downscaling.\(norm).weight", in: values)
        let bias = layout.tensor(Self.prefix + "mask_downscaling.\(norm).bias", in: values)
        y.withMutablePointer { yp in
            w.withPointer { wp in
                bias.withPointer { bp in
                    LayerNorm2d.forward(y: yp, mean: &mean, rstd: &rstd, x: yp, weight: wp, bias: bp, batch: b,
                                        channels: outChannels, pixels: pixels, eps: Self.maskLayerNormEps)
                }
            }
            GELU.forward(y: yp, x: yp, count: count)
        }
        return y
    }

    /// `mask_downscaling.<name>` (kernel k, stride k, no padding) applied to x (B, I, H, W).
    private func convolve(_ x: Tensor, _ name: String, outChannels: Int, kernel k: Int) -> Tensor {
        let shape = Conv2d.Shape(batch: x.shape[0], inChannels: x.shape[1], outChannels: outChannels,
                                 height: x.shape[2], width: x.shape[3], kernel: k, stride: k)
        var y = Tensor(zeros: [shape.batch, outChannels, shape.outHeight, shape.outWidth])
        let w = layout.tensor(Self.prefix + "mask_downscaling.\(name).weight", in: values)
        let bias = layout.tensor(Self.prefix + "mask_downscaling.\(name).bias", in: values)
        y.withMutablePointer { yp in
            x.withPointer { xp in
                w.withPointer { wp in
                    bias.withPointer { bp in Conv2d.forward(y: yp, x: xp, weight: wp, bias: bp, shape: shape) }
                }
            }
        }
        return y
    }
}
