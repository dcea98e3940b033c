import TensorFiles
import Tensors

/// Configuration of SAM's `TwoWayTransformer` (DESIGN §3.2): SAM uses depth 2, dim 256, 8 heads,
/// MLP 2048, downsample rate 2, LayerNorm eps 1e-5.
public struct TwoWayTransformerConfig: Codable, Equatable, Sendable {
    public var depth: Int
    public var embeddingDim: Int
    public var heads: Int
    public var mlpDim: Int
    /// Internal width of the two cross attentions (and the final one) is embeddingDim / rate.
    public var downsampleRate: Int
    public var layerNormEps: Float

    public init(depth: Int, embeddingDim: Int, heads: Int, mlpDim: Int, downsampleRate: Int = 2,
                layerNormEps: Float = 1e-5) {
        precondition(depth >= 1, "the two-way transformer needs at least one layer")
        precondition(embeddingDim % heads == 0 && (embeddingDim / downsampleRate) % heads == 0,
                     "heads \(heads) must divide dim \(embeddingDim) and dim / rate \(embeddingDim / downsampleRate)")
        (self.depth, self.embeddingDim, self.heads, self.mlpDim) = (depth, embeddingDim, heads, mlpDim)
        (self.downsampleRate, self.layerNormEps) = (downsampleRate, layerNormEps)
    }

    /// Width of the cross attentions' projections.
    public var crossInternalDim: Int { embeddingDim / downsampleRate }

    /// Infers depth, dim, MLP dim and downsample rate from the shapes of the `<prefix>*` keys of
    /// `archive` (prefix e.g. `mask_decoder.transformer.`). The head count leaves no trace in the
    /// shapes, so it is given (SAM: 8).
    public static func inferred(from archive: any TensorArchive, prefix: String, heads: Int) throws -> Self {
        let depth = ParameterLoader.count(archive) { "\(prefix)layers.\($0).norm1.weight" }
        guard depth > 0 else {
            throw CheckpointError(file: archive.path, "no '\(prefix)layers.0.*' keys: not a SAM mask decoder")
        }
        let norm = try ParameterLoader.shape(archive, prefix + "norm_final_attn.weight", for: "the transformer dim")
        let lin1 = try ParameterLoader.shape(archive, prefix + "layers.0.mlp.lin1.weight", for: "the MLP dim")
        let q = try ParameterLoader.shape(archive, prefix + "layers.0.cross_attn_token_to_image.q_proj.weight",
                                          for: "the attention downsample rate")
        guard norm.count == 1, lin1.count == 2, q.count == 2, q[0] > 0, norm[0] % q[0] == 0 else {
            throw CheckpointError(file: archive.path,
                                  "inconsistent transformer shapes: norm \(norm), lin1 \(lin1), q_proj \(q)")
        }
        return Self(depth: depth, embeddingDim: norm[0], heads: heads, mlpDim: lin1[0], downsampleRate: norm[0] / q[0])
    }

    /// Every parameter as (PyTorch name, shape), in state-dict order, names prefixed by `prefix`
    /// (e.g. `transformer.` or `mask_decoder.transformer.`).
    public func parameterShapes(prefix: String = "transformer.") -> [(name: String, shape: [Int])] {
        let d = embeddingDim
        func attention(_ name: String, internal di: Int) -> [(name: String, shape: [Int])] {
            ["q_proj", "k_proj", "v_proj"].flatMap { p in
                [("\(name).\(p).weight", [di, d]), ("\(name).\(p).bias", [di])]
            } + [("\(name).out_proj.weight", [d, di]), ("\(name).out_proj.bias", [d])]
        }
        func norm(_ name: String) -> [(name: String, shape: [Int])] { [("\(name).weight", [d]), ("\(name).bias", [d])] }
        var list: [(name: String, shape: [Int])] = []
        for l in 0..<depth {
            let p = "layers.\(l)."
            list += attention(p + "self_attn", internal: d) + norm(p + "norm1")
            list += attention(p + "cross_attn_token_to_image", internal: crossInternalDim) + norm(p + "norm2")
            list += [(p + "mlp.lin1.weight", [mlpDim, d]), (p + "mlp.lin1.bias", [mlpDim]),
                     (p + "mlp.lin2.weight", [d, mlpDim]), (p + "mlp.lin2.bias", [d])]
            list += norm(p + "norm3") + norm(p + "norm4")
            list += attention(p + "cross_attn_image_to_token", internal: crossInternalDim)
        }
        list += attention("final_attn_token_to_image", internal: crossInternalDim) + norm("norm_final_attn")
        return list.map { (prefix + $0.name, $0.shape) }
    }
}
