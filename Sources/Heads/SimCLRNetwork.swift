import Layers
import Tensors

/// The network of SimCLR pretraining for the UNet baseline (issue 8): the UNet's encoder path,
/// global average pooling of the bottleneck and a projection MLP,
///
///     h = mean_pixels(encoder(x))            (B, C)      C = w 2^L
///     z = W2 relu(W1 h + b1) + b2            (B, P)      hidden H
///
/// trained with NT-Xent on z; the projection is dropped afterwards and the encoder's weights
/// start the UNet's fine-tuning. Parameters: the UNet's encoder tensors (same names, a prefix of
/// the UNet's layout) then `projection.0.weight` (H, C), `projection.0.bias` (H),
/// `projection.2.weight` (P, H), `projection.2.bias` (P) (PyTorch `nn.Sequential(Linear, ReLU,
/// Linear)` names), PyTorch-default initialisation from the seed.
public struct SimCLRNetwork: Equatable, Sendable {
    public let unet: UNet
    /// H, the projection's hidden width.
    public let hidden: Int
    /// P, the projection's output width.
    public let projectionDim: Int
    public let layout: ParameterLayout

    /// `projectionHidden` 0 means H = C (SimCLR's projection keeps the representation width).
    public init(unet: UNet, projectionHidden: Int = 0, projectionDim: Int = 128) {
        precondition(projectionHidden >= 0 && projectionDim >= 1,
                     "projection hidden \(projectionHidden), dim \(projectionDim)")
        self.unet = unet
        hidden = projectionHidden == 0 ? unet.bottleneckChannels : projectionHidden
        self.projectionDim = projectionDim
        var layout = ParameterLayout(unet.encoderEntries.map { ($0.name, $0.shape) })
        layout.append("projection.0.weight", shape: [hidden, unet.bottleneckChannels])
        layout.append("projection.0.bias", shape: [hidden])
        layout.append("projection.2.weight", shape: [projectionDim, hidden])
        layout.append("projection.2.bias", shape: [projectionDim])
        self.layout = layout
    }

    public func initialization(of name: String) -> ParameterInit {
        switch name {
        case "projection.0.weight", "projection.0.bias": return .pyTorchDefault(fanIn: unet.bottleneckChannels)
        case "projection.2.weight", "projection.2.bias": return .pyTorchDefault(fanIn: hidden)
        default: return unet.initialization(of: name)
        }
    }

    /// The initial parameters from `seed` (the encoder's equal the UNet's own initialisation).
    public func initialParameters(seed: UInt64) -> [Float] {
        ParameterInit.values(layout, seed: seed, initialization(of:))
    }

    /// The UNet encoder's tensors of a parameter buffer, by state-dict name.
    public func encoderTensors(_ parameters: [Float]) -> [(String, Tensor)] {
        unet.encoderEntries.map { ($0.name, layout.tensor($0.name, in: parameters)) }
    }

    /// z (B, P) <- images (B, C_in, S, S); saves what backward needs in `workspace`.
    public func forward(_ images: Tensor, parameters: [Float], workspace ws: inout SimCLRWorkspace) -> Tensor {
        precondition(parameters.count == layout.totalCount,
                     "\(parameters.count) parameters for a layout of \(layout.totalCount)")
        let b = images.shape[0], c = unet.bottleneckChannels
        ws.prepare(batch: b, channels: c, hidden: hidden)
        var z = Tensor(zeros: [b, projectionDim])
        parameters.withUnsafeBufferPointer { pb in
            let p = pb.baseAddress!, (w1, w2) = projectionWeights(p)
            let bottleneck = unet.forwardEncoder(images, parameters: p, workspace: &ws.unet)
            ws.pixels = ws.unet.count(ofValue: unet.bottleneckValue) / (b * c)
            GlobalAveragePool.forward(y: &ws.pooled, x: bottleneck, batch: b, channels: c, pixels: ws.pixels)
            Linear.forward(y: &ws.hidden, x: ws.pooled, weight: w1, bias: w1 + hidden * c, rows: b, inFeatures: c,
                           outFeatures: hidden)
            ws.hidden.withUnsafeMutableBufferPointer {
                ReLU.forward(y: $0.baseAddress!, x: $0.baseAddress!, count: $0.count)
            }
            Linear.forward(y: &z.data, x: ws.hidden, weight: w2, bias: w2 + projectionDim * hidden,
                           rows: b, inFeatures: hidden, outFeatures: projectionDim)
        }
        return z
    }

    /// Accumulates `gradients += dLoss/dParameters` for `dZ` (B, P) of the last forward.
    public func backward(_ dZ: UnsafePointer<Float>, parameters: [Float], gradients: inout [Float],
                         workspace ws: inout SimCLRWorkspace) {
        precondition(gradients.count == layout.totalCount,
                     "gradient buffer does not match the layout (\(layout.totalCount))")
        let b = ws.batch, c = unet.bottleneckChannels
        ws.clearGradients()
        parameters.withUnsafeBufferPointer { pb in
            gradients.withUnsafeMutableBufferPointer { gb in
                let p = pb.baseAddress!, g = gb.baseAddress!, (w1, w2) = projectionWeights(p)
                let dW1 = g + (w1 - p), dW2 = g + (w2 - p)
                Linear.backward(dx: &ws.dHidden, dWeight: dW2, dBias: dW2 + projectionDim * hidden, dy: dZ,
                                x: ws.hidden, weight: w2, rows: b, inFeatures: hidden, outFeatures: projectionDim)
                ReLU.backward(dx: &ws.dPreActivation, dy: ws.dHidden, y: ws.hidden, count: b * hidden)
                Linear.backward(dx: &ws.dPooled, dWeight: dW1, dBias: dW1 + hidden * c, dy: ws.dPreActivation,
                                x: ws.pooled, weight: w1, rows: b, inFeatures: c, outFeatures: hidden)
                GlobalAveragePool.backward(dx: &ws.dBottleneck, dy: ws.dPooled, batch: b, channels: c,
                                           pixels: ws.pixels)
                unet.backwardEncoder(ws.dBottleneck, parameters: p, gradients: g, workspace: &ws.unet)
            }
        }
    }

    /// W1 and W2 in a parameter buffer (each followed by its bias).
    private func projectionWeights(_ p: UnsafePointer<Float>) -> (UnsafePointer<Float>, UnsafePointer<Float>) {
        (p + layout.entry("projection.0.weight")!.offset, p + layout.entry("projection.2.weight")!.offset)
    }
}

/// Saved activations of a `SimCLRNetwork` pass: the UNet encoder's workspace, and for B images
/// pooled (B, C), hidden (B, H) after ReLU, and their gradients; dBottleneck (B, C, pixels).
public final class SimCLRWorkspace {
    var unet = UNetWorkspace()
    private(set) var batch = 0
    var pixels = 0
    var pooled: [Float] = [], hidden: [Float] = []
    var dPooled: [Float] = [], dHidden: [Float] = [], dPreActivation: [Float] = [], dBottleneck: [Float] = []

    public init() {}

    func prepare(batch b: Int, channels c: Int, hidden h: Int) {
        batch = b
        pooled = [Float](repeating: 0, count: b * c)
        hidden = [Float](repeating: 0, count: b * h)
    }

    func clearGradients() {
        dPooled = [Float](repeating: 0, count: pooled.count)
        dHidden = [Float](repeating: 0, count: hidden.count)
        dPreActivation = [Float](repeating: 0, count: hidden.count)
        dBottleneck = [Float](repeating: 0, count: pooled.count * pixels)
    }
}

extension UNet {
    /// The UNet's encoder with a SimCLR projection head (the baseline's pretraining).
    public func selfSupervisedNetwork(projectionHidden: Int, projectionDim: Int) -> SimCLRNetwork? {
        SimCLRNetwork(unet: self, projectionHidden: projectionHidden, projectionDim: projectionDim)
    }
}
