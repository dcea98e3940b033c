import Layers
import Tensors

/// Views of one two-way-transformer `DecoderAttention`'s projections (`q_proj`, `k_proj`, `v_proj`,
/// `out_proj`) inside a flat parameter or gradient buffer.
public struct AttentionWeights {
    public var q, k, v, out: WeightAndBias   // q, k, v (Di, D) + (Di); out (D, Di) + (D)

    public init(layout: ParameterLayout, prefix: String, base: UnsafeMutablePointer<Float>) {
        q = WeightAndBias(layout: layout, prefix: prefix + "q_proj.", base: base)
        k = WeightAndBias(layout: layout, prefix: prefix + "k_proj.", base: base)
        v = WeightAndBias(layout: layout, prefix: prefix + "v_proj.", base: base)
        out = WeightAndBias(layout: layout, prefix: prefix + "out_proj.", base: base)
    }

    /// As the read-only parameters of `DecoderAttention.forward` / `backward`.
    var parameters: DecoderAttention.Parameters {
        DecoderAttention.Parameters(qWeight: q.weight, qBias: q.bias, kWeight: k.weight, kBias: k.bias,
                                    vWeight: v.weight, vBias: v.bias, outWeight: out.weight, outBias: out.bias)
    }

    /// As the gradient destinations of `DecoderAttention.backward`.
    var gradients: DecoderAttention.Gradients {
        DecoderAttention.Gradients(qWeight: q.weight, qBias: q.bias, kWeight: k.weight, kBias: k.bias,
                                   vWeight: v.weight, vBias: v.bias, outWeight: out.weight, outBias: out.bias)
    }
}

/// Views of one `TwoWayAttentionBlock`.
public struct TwoWayBlockWeights {
    public var selfAttention: AttentionWeights
    public var norm1: WeightAndBias
    public var tokenToImage: AttentionWeights
    public var norm2: WeightAndBias
    /// `mlp.lin1` (M, D), `mlp.lin2` (D, M).
    public var mlp: [WeightAndBias]
    public var norm3: WeightAndBias
    public var norm4: WeightAndBias
    public var imageToToken: AttentionWeights

    public init(layout: ParameterLayout, prefix: String, base: UnsafeMutablePointer<Float>) {
        selfAttention = AttentionWeights(layout: layout, prefix: prefix + "self_attn.", base: base)
        norm1 = WeightAndBias(layout: layout, prefix: prefix + "norm1.", base: base)
        tokenToImage = AttentionWeights(layout: layout, prefix: prefix + "cross_attn_token_to_image.", base: base)
        norm2 = WeightAndBias(layout: layout, prefix: prefix + "norm2.", base: base)
        mlp = ["mlp.lin1.", "mlp.lin2."].map { WeightAndBias(layout: layout, prefix: prefix + $0, base: base) }
        norm3 = WeightAndBias(layout: layout, prefix: prefix + "norm3.", base: base)
        norm4 = WeightAndBias(layout: layout, prefix: prefix + "norm4.", base: base)
        imageToToken = AttentionWeights(layout: layout, prefix: prefix + "cross_attn_image_to_token.", base: base)
    }
}

extension TwoWayTransformer {
    /// Named views of every transformer parameter inside a flat buffer laid out by a
    /// `ParameterLayout` that holds `config.parameterShapes(prefix:)` (possibly among other
    /// entries). The same type views the gradient buffer of the same layout.
    public struct Weights {
        public var layers: [TwoWayBlockWeights]
        public var finalAttention: AttentionWeights
        public var finalNorm: WeightAndBias

        /// `prefix` as given to `parameterShapes`, e.g. `mask_decoder.transformer.`.
        public init(layout: ParameterLayout, prefix: String, config: TwoWayTransformerConfig,
                    base: UnsafeMutablePointer<Float>) {
            for (name, shape) in config.parameterShapes(prefix: prefix) {
                let found = layout.entry(name)?.shape
                precondition(found == shape,
                             "layout entry \(name) is \(found?.description ?? "absent"), expected \(shape)")
            }
            layers = (0..<config.depth).map {
                TwoWayBlockWeights(layout: layout, prefix: "\(prefix)layers.\($0).", base: base)
            }
            finalAttention = AttentionWeights(layout: layout, prefix: prefix + "final_attn_token_to_image.", base: base)
            finalNorm = WeightAndBias(layout: layout, prefix: prefix + "norm_final_attn.", base: base)
        }
    }
}
