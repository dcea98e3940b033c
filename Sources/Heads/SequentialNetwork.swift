import Layers
import Tensors

/// One layer of a feed-forward head. Parameter names are the reference's state-dict prefixes
/// (`<name>.weight`, `<name>.bias`).
public enum HeadLayer: Equatable, Sendable {
    /// `nn.Conv2d(in, out, kernel, padding=kernel/2)` with bias: weight (O, I, k, k), bias (O).
    case conv(String, inChannels: Int, outChannels: Int, kernel: Int)
    /// `nn.ConvTranspose2d(in, out, 2, stride=2)` with bias: weight (I, O, 2, 2), bias (O).
    case convTranspose(String, inChannels: Int, outChannels: Int)
    /// SAM's `LayerNorm2d(channels)` (eps 1e-6): weight (C) initially 1, bias (C) initially 0.
    case layerNorm2d(String, channels: Int)
    /// `nn.ReLU`, applied in place.
    case relu
    /// `nn.GELU()` (exact, erf).
    case gelu

    /// Parameter tensors (name, shape) in state-dict order.
    var parameters: [(name: String, shape: [Int])] {
        switch self {
        case let .conv(name, i, o, k): return [(name + ".weight", [o, i, k, k]), (name + ".bias", [o])]
        case let .convTranspose(name, i, o): return [(name + ".weight", [i, o, 2, 2]), (name + ".bias", [o])]
        case let .layerNorm2d(name, c): return [(name + ".weight", [c]), (name + ".bias", [c])]
        case .relu, .gelu: return []
        }
    }

    /// PyTorch's default initialisation of this layer's parameter `name`.
    func initialization(of name: String) -> ParameterInit {
        switch self {
        case let .conv(_, i, _, k): return .pyTorchDefault(fanIn: i * k * k)
        case let .convTranspose(_, _, o): return .pyTorchDefault(fanIn: o * 4)
        case .layerNorm2d: return .constant(name.hasSuffix(".weight") ? 1 : 0)
        case .relu, .gelu: preconditionFailure("\(self) has no parameters")
        }
    }

    /// The output geometry for an input of geometry `s`.
    func outputShape(_ s: FeatureShape) -> FeatureShape {
        switch self {
        case let .conv(_, i, o, k):
            precondition(s.channels == i, "\(self) got \(s.channels) input channels")
            precondition(k % 2 == 1, "\(self): only odd kernels keep the grid")
            return FeatureShape(channels: o, height: s.height, width: s.width)
        case let .convTranspose(_, i, o):
            precondition(s.channels == i, "\(self) got \(s.channels) input channels")
            return FeatureShape(channels: o, height: 2 * s.height, width: 2 * s.width)
        case let .layerNorm2d(_, channels):
            precondition(s.channels == channels, "\(self) got \(s.channels) input channels")
            return s
        case .relu, .gelu: return s
        }
    }
}

/// Channels and grid of one image's feature map (C, H, W).
public struct FeatureShape: Equatable, Sendable {
    public var channels, height, width: Int

    public init(channels: Int, height: Int, width: Int) {
        (self.channels, self.height, self.width) = (channels, height, width)
    }

    /// C * H * W.
    public var count: Int { channels * height * width }
}

/// A chain of `HeadLayer`s on flat parameter buffers: the shared engine of the CNN and linear
/// heads. Forward is the list of layer calls, backward the same list reversed (STYLE 4), reading
/// the activations saved in a `SequentialWorkspace`.
public struct SequentialNetwork: Equatable, Sendable {
    public let layers: [HeadLayer]
    /// Every layer's parameters, in layer order (= the reference's state-dict order).
    public let layout: ParameterLayout
    /// Offset of each layer's weight in the parameter buffer (bias follows it); -1 without parameters.
    let weightOffsets: [Int]

    public init(_ layers: [HeadLayer]) {
        var layout = ParameterLayout(), offsets = [Int]()
        for layer in layers {
            let tensors = layer.parameters
            offsets.append(tensors.isEmpty ? -1 : layout.totalCount)
            for t in tensors { layout.append(t.name, shape: t.shape) }
        }
        precondition(layout.totalCount > 0, "a head network needs parameters")
        self.layers = layers
        self.layout = layout
        self.weightOffsets = offsets
    }

    /// The initialisation rule of parameter `name`.
    public func initialization(of name: String) -> ParameterInit {
        guard let layer = layers.first(where: { $0.parameters.contains { $0.name == name } }) else {
            preconditionFailure("no parameter \(name) in this network")
        }
        return layer.initialization(of: name)
    }

    /// The geometry after the last layer for an input of geometry `input`.
    public func outputShape(_ input: FeatureShape) -> FeatureShape {
        layers.reduce(input) { $1.outputShape($0) }
    }

    /// Multiply-adds of one forward pass of a batch (convolutions only; backward costs about
    /// twice as many).
    public func multiplyAdds(batch: Int, input: FeatureShape) -> Int {
        var shape = input, total = 0
        for layer in layers {
            let out = layer.outputShape(shape)
            switch layer {
            case let .conv(_, i, _, k): total += batch * out.count * i * k * k
            case let .convTranspose(_, i, _): total += batch * out.count * i
            case .layerNorm2d, .relu, .gelu: break
            }
            shape = out
        }
        return total
    }
}
