import Tensors

/// The UNet's encoder path alone (input -> bottleneck), for self-supervised pretraining of the
/// encoder (the SimCLR baseline, `SimCLRNetwork`).
///
/// The encoder units come first in `units` and their parameters first in `layout`, so a buffer
/// holding just the first `encoderParameterCount` values of the UNet's parameters (followed by
/// anything else) serves the encoder passes unchanged. Shapes: B batch, images (B, C_in, S, S),
/// bottleneck (B, w 2^L, S / 2^L, S / 2^L).
extension UNet {
    /// Units of the encoder path: every unit before the first up-convolution.
    public var encoderUnitCount: Int {
        units.firstIndex { if case .upConv = $0.op { return true } else { return false } } ?? units.count
    }

    /// Parameters of the encoder path (a prefix of `layout`).
    public var encoderParameterCount: Int {
        encoderUnitCount < units.count ? units[encoderUnitCount].offset : layout.totalCount
    }

    /// The parameter tensors of the encoder path, in state-dict order (names start with `encoders.`).
    public var encoderEntries: [ParameterLayout.Entry] {
        layout.entries.filter { $0.offset < encoderParameterCount }
    }

    /// Channels of the bottleneck (w 2^L).
    public var bottleneckChannels: Int { width << levels }

    /// The bottleneck value index.
    var bottleneckValue: Int { units[encoderUnitCount - 1].output }

    /// Runs the encoder path on `images` (B, C_in, S, S) with the encoder parameters at
    /// `parameters`, saving its activations in `workspace`; returns the bottleneck
    /// (B, w 2^L, S / 2^L, S / 2^L), valid until the workspace's next pass.
    public func forwardEncoder(_ images: Tensor, parameters: UnsafePointer<Float>,
                               workspace ws: inout UNetWorkspace) -> UnsafePointer<Float> {
        ws.prepare(self, inputShape: images.shape, units: encoderUnitCount)
        images.withPointer { ws.values[0].pointer.update(from: $0, count: images.count) }
        for u in 0..<encoderUnitCount { forwardUnit(u, parameters: parameters, ws) }
        return UnsafePointer(ws.values[bottleneckValue].pointer)
    }

    /// Accumulates `gradients += dLoss/dParameters` of the encoder path (a buffer laid out like
    /// `parameters`) for `dBottleneck` of the last `forwardEncoder`.
    public func backwardEncoder(_ dBottleneck: UnsafePointer<Float>, parameters: UnsafePointer<Float>,
                                gradients: UnsafeMutablePointer<Float>, workspace ws: inout UNetWorkspace) {
        precondition(!ws.inputShape.isEmpty, "backward before forward")
        let last = bottleneckValue
        for v in 1..<last { ws.gradients[v].pointer.update(repeating: 0, count: ws.count(ofValue: v)) }
        ws.gradients[last].pointer.update(from: dBottleneck, count: ws.count(ofValue: last))
        for u in (0..<encoderUnitCount).reversed() { backwardUnit(u, parameters: parameters, gradients: gradients, ws) }
    }
}
