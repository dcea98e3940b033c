import Layers
import SAM
import Tensors

/// AutoSAM's decoder head ("ViT head", DESIGN §3.3, FIXTURES quirks 1-6): SAM's mask decoder
/// without prompt tokens, run once per (image, class) pair.
///
///     tokens[r] = [iou_token[c], mask_tokens[T c], ..., mask_tokens[T c + T - 1]]   r = b K + c
///     hs, src   = transformer(tokens, image b (shared by its K rows), dense PE (shared by all rows))
///     upscaled  = output_upscaling(src as (B K, D, h, w))                  (B K, C2, 4h, 4w)
///     logits[b, c] = output_hypernetworks_mlps.0(hs[r, 1]) . upscaled[r]   (B, K, 4h, 4w)
///     iou[b, c]    = iou_prediction_head(hs[r, 0])[0]                      (B, K), not in the loss
///
/// Only mask 0 of each class is used (multimask_output=False), so `output_hypernetworks_mlps.1`
/// and the second mask token of each class get exactly-zero gradients (quirk 2); hypernetwork 1 is
/// still evaluated (`workspace.hyperIn`). Trainable: every `mask_decoder.*` tensor except the IoU
/// token and the IoU head (quirk 6: the reference freezes names containing `iou`); frozen: those
/// plus the positional matrix `pe_layer.positional_encoding_gaussian_matrix` (a buffer, quirk 5).
/// ref: AutoSAM models/sam_decoder.py @ 50a6ff4 (`MaskDecoder.predict_masks_1`),
/// models/build_autosam_seg_model.py, scripts/main_autosam_seg.py.
///
/// Shapes: B batch, K classes, T = 2 mask tokens per class, N = 1 + T tokens, D dim, h x w grid,
/// P = h w, C2 = D / 8, Q = 16 P upscaled pixels. Embeddings (B, D, h, w).
public struct AutoSAMHead: SegmentationHead, Equatable, Sendable {
    /// State-dict keys (AutoSamSeg names).
    public enum Key {
        public static let iouToken = "mask_decoder.iou_token.weight"
        public static let maskTokens = "mask_decoder.mask_tokens.weight"
        public static let gaussianMatrix = "pe_layer.positional_encoding_gaussian_matrix"
        public static let transformer = "mask_decoder.transformer."
        public static let upscaling = "mask_decoder.output_upscaling."
        public static let iouHead = "mask_decoder.iou_prediction_head."
        public static func hypernetwork(_ i: Int) -> String { "mask_decoder.output_hypernetworks_mlps.\(i)." }
    }

    public let config: AutoSAMHeadConfig
    public let layout: ParameterLayout
    public let frozenLayout: ParameterLayout

    public init(config: AutoSAMHeadConfig) {
        self.config = config
        var trainable = ParameterLayout(), frozen = ParameterLayout()
        for (name, shape) in config.parameterShapes {
            if Self.isFrozen(name) { frozen.append(name, shape: shape) } else { trainable.append(name, shape: shape) }
        }
        (layout, frozenLayout) = (trainable, frozen)
    }

    /// SAM's decoder configuration for `inputChannels` = D (`AutoSAMHeadConfig.sam`).
    public init(inputChannels: Int = 256, classes: Int) {
        self.init(config: .sam(embeddingDim: inputChannels, classes: classes))
    }

    public var inputChannels: Int { config.embeddingDim }
    public var classes: Int { config.classes }

    public func outputSize(height: Int, width: Int) -> (height: Int, width: Int) { (4 * height, 4 * width) }

    /// The IoU token, the IoU head (the reference freezes every name containing `iou`) and the
    /// positional matrix (a buffer).
    public static func isFrozen(_ name: String) -> Bool {
        name == Key.iouToken || name.hasPrefix(Key.iouHead) || name == Key.gaussianMatrix
    }

    /// PyTorch's defaults: `nn.Embedding` and `torch.randn` N(0, 1) for the tokens and the
    /// positional matrix; LayerNorm weight 1, bias 0; `nn.Linear` and `nn.ConvTranspose2d`
    /// U(+-1/sqrt(fan_in)) for weight and bias, fan_in = weight.size(1) * kernel area.
    public func initialization(of name: String) -> ParameterInit {
        if name == Key.iouToken || name == Key.maskTokens || name == Key.gaussianMatrix {
            return .normal(mean: 0, std: 1)
        }
        let module = name.hasSuffix(".weight") ? String(name.dropLast(7)) : String(name.dropLast(5))
        guard let weight = (layout.entry(module + ".weight") ?? frozenLayout.entry(module + ".weight"))?.shape else {
            preconditionFailure("no tensor \(name) in the AutoSAM head")
        }
        if weight.count == 1 { return .constant(name.hasSuffix(".weight") ? 1 : 0) }   // LayerNorm
        return .pyTorchDefault(fanIn: weight.dropFirst().reduce(1, *))
    }

    public func makeWorkspace() -> AutoSAMHeadWorkspace { AutoSAMHeadWorkspace() }

    /// logits (B, K, 4h, 4w) <- embeddings (B, D, h, w); the IoU predictions and every
    /// intermediate stay in `workspace`.
    public func forward(_ embeddings: Tensor, parameters: [Float], frozen: [Float],
                        workspace: inout AutoSAMHeadWorkspace) -> Tensor {
        precondition(embeddings.rank == 4 && embeddings.shape[1] == inputChannels,
                     "the AutoSAM head expects (B, \(inputChannels), h, w) embeddings, got \(embeddings.shape)")
        precondition(parameters.count == layout.totalCount && frozen.count == frozenLayout.totalCount,
                     "\(parameters.count) parameters and \(frozen.count) frozen values "
                     + "for layouts of \(layout.totalCount) and \(frozenLayout.totalCount)")
        let (b, h, w) = (embeddings.shape[0], embeddings.shape[2], embeddings.shape[3])
        let s = workspace.prepare(config, batch: b, height: h, width: w)
        var logits = Tensor(zeros: [b, classes, 4 * h, 4 * w])
        withBases(parameters, frozen) { p, f in
            let views = Views(self, parameters: p, frozen: f)
            fillTokens(s.tokens.pointer, rows: s.rows, views)
            embeddings.withPointer {
                TwoWayTransformer.channelsToTokens(y: s.image.pointer, x: $0, batch: b, channels: inputChannels,
                                                   pixels: h * w)
            }
            s.updatePositionalEncoding(gaussian: frozenLayout.tensor(Key.gaussianMatrix, in: frozen))
            TwoWayTransformer.forward(inputs: s.transformerInputs, weights: views.transformer,
                                      activations: s.transformer)
            for t in 0..<config.masksPerClass {
                s.run(s.hypernetworks[t], token: 1 + t, weights: views.hypernetworks[t])
            }
            s.run(s.iouHead, token: 0, weights: views.iouHead)
            logits.withMutablePointer {
                s.upscaleAndProject(masks: $0, weights: views.upscaling, keep: workspace.keepsUpscaledEmbedding)
            }
            s.holdsForward = true
        }
        return logits
    }

    /// Accumulates the gradients of every trainable tensor from dLogits (B, K, 4h, 4w): the mask
    /// product, hypernetwork 0, the upscaling, the transformer and the mask tokens, in reverse.
    /// The upscaling and the mask product run row by row from the saved u1 (see
    /// `AutoSAMHeadWorkspace+Upscaling.swift`).
    public func backward(_ dLogits: Tensor, parameters: [Float], frozen: [Float], gradients: inout [Float],
                         workspace: inout AutoSAMHeadWorkspace) {
        guard let s = workspace.buffers, dLogits.shape == [s.batch, classes, 4 * s.height, 4 * s.width] else {
            preconditionFailure("dLogits \(dLogits.shape) does not match the last forward \(workspace.geometry)")
        }
        precondition(s.holdsForward, "one backward per forward: the last forward's activations are consumed")
        precondition(gradients.count == layout.totalCount,
                     "\(gradients.count) gradients for a layout of \(layout.totalCount)")
        let rows = s.rows
        s.zeroGradients()
        s.holdsForward = false
        withBases(parameters, frozen) { pBase, fBase in
            gradients.withUnsafeMutableBufferPointer { buffer in
                let views = Views(self, parameters: pBase, frozen: fBase)
                let grads = Views(self, parameters: buffer.baseAddress!, frozen: fBase)
                dLogits.withPointer {
                    s.upscaleAndProjectBackward(dMasks: $0, weights: views.upscaling, gradients: grads.upscaling)
                }
                s.backward(s.hypernetworks[0], token: 1, dQueries: s.gradientQueries.pointer,
                           dOutput: s.gradientHyper.pointer, weights: views.hypernetworks[0],
                           gradients: grads.hypernetworks[0])
                TwoWayTransformer.backward(gradients: grads.transformer,
                                           inputGradients: .init(tokens: s.gradientTokens.pointer),
                                           dQueries: s.gradientQueries.pointer, dKeys: s.gradientKeys.pointer,
                                           scratch: s.savedU1.pointer,   // dead after the upscaling's backward
                                           inputs: s.transformerInputs, weights: views.transformer,
                                           activations: s.transformer)
                accumulateMaskTokenGradients(grads.maskTokens, dTokens: s.gradientTokens.pointer, rows: rows)
            }
        }
    }

    /// tokens (B K, N, D) <- [iou_token[c], mask_tokens[T c ..< T c + T]] for row r = b K + c.
    private func fillTokens(_ tokens: UnsafeMutablePointer<Float>, rows: Int, _ views: Views) {
        let (d, t, k) = (inputChannels, config.masksPerClass, classes), n = 1 + t
        for r in 0..<rows {
            let c = r % k, row = tokens + r * n * d
            row.update(from: views.iouToken + c * d, count: d)
            (row + d).update(from: views.maskTokens + c * t * d, count: t * d)
        }
    }

    /// dMaskTokens (T K, D) += sum over images b of dTokens[b K + c, 1 + j] into row T c + j.
    private func accumulateMaskTokenGradients(_ dMaskTokens: UnsafeMutablePointer<Float>, dTokens: UnsafePointer<Float>,
                                              rows: Int) {
        let (d, t, k) = (inputChannels, config.masksPerClass, classes), n = 1 + t
        for r in 0..<rows {
            let c = r % k
            for j in 0..<t {
                let source = dTokens + (r * n + 1 + j) * d, target = dMaskTokens + (c * t + j) * d
                for i in 0..<d { target[i] += source[i] }
            }
        }
    }
}
