import SAM
import Tensors

extension AutoSAMHead {
    /// Named views of the head's tensors inside a flat trainable buffer (parameters or their
    /// gradients) and the frozen buffer, by the reference's state-dict keys.
    struct Views {
        var transformer: TwoWayTransformer.Weights
        var upscaling: MaskDecoder.Upscaling.Weights
        /// `output_hypernetworks_mlps.t.layers.*`, one list per mask token t (T lists of 3).
        var hypernetworks: [[WeightAndBias]]
        /// `iou_prediction_head.layers.*` (frozen).
        var iouHead: [WeightAndBias]
        var iouToken: UnsafeMutablePointer<Float>     // (K, D), frozen
        var maskTokens: UnsafeMutablePointer<Float>   // (T K, D)

        init(_ head: AutoSAMHead, parameters: UnsafeMutablePointer<Float>, frozen: UnsafeMutablePointer<Float>) {
            let (trainable, fixed, decoder) = (head.layout, head.frozenLayout, head.config.decoder)
            transformer = TwoWayTransformer.Weights(layout: trainable, prefix: Key.transformer,
                                                    config: decoder.transformer, base: parameters)
            upscaling = MaskDecoder.Upscaling.Weights(layout: trainable, prefix: Key.upscaling, base: parameters)
            hypernetworks = (0..<head.config.masksPerClass).map {
                Self.mlp(trainable, Key.hypernetwork($0), layers: decoder.hypernetworkShape(rows: 1).layers,
                         base: parameters)
            }
            iouHead = Self.mlp(fixed, Key.iouHead, layers: decoder.iouHeadDepth, base: frozen)
            iouToken = frozen + fixed.entry(Key.iouToken)!.offset
            maskTokens = parameters + trainable.entry(Key.maskTokens)!.offset
        }

        /// `<prefix>layers.i.weight` / `.bias` for i < layers.
        static func mlp(_ layout: ParameterLayout, _ prefix: String, layers: Int,
                        base: UnsafeMutablePointer<Float>) -> [WeightAndBias] {
            (0..<layers).map { WeightAndBias(layout: layout, prefix: "\(prefix)layers.\($0).", base: base) }
        }
    }

    /// Runs `body` with the base addresses of the trainable and frozen buffers, as the mutable
    /// pointers the weight views are made of (forward and backward only read through them).
    func withBases<R>(_ parameters: [Float], _ frozen: [Float],
                      _ body: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> R) -> R {
        parameters.withUnsafeBufferPointer { p in
            frozen.withUnsafeBufferPointer { f in
                body(UnsafeMutablePointer(mutating: p.baseAddress!), UnsafeMutablePointer(mutating: f.baseAddress!))
            }
        }
    }
}
