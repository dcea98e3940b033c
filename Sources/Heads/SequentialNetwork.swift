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

    /// Output (channels, height, width) for an input of (channels, height, width).
    func outputShape(_ c: Int, _ h: Int, _ w: Int) -> (Int, Int, Int) {
        switch self {
        case let .conv(_, i, o, k):
            precondition(c == i, "\(self) got \(c) input channels")
            precondition(k % 2 == 1, "\(self): only odd kernels keep the grid")
            return (o, h, w)
        case let .convTranspose(_, i, o):
            precondition(c == i, "\(self) got \(c) input channels")
            return (o, 2 * h, 2 * w)
        case let .layerNorm2d(_, channels):
            precondition(c == channels, "\(self) got \(c) input channels")
            return (c, h, w)
        case .relu, .gelu: return (c, h, w)
        }
    }
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

    /// (channels, height, width) after the last layer for an input of (channels, height, width).
    public func outputShape(channels: Int, height: Int, width: Int) -> (channels: Int, height: Int, width: Int) {
        var shape = (channels, height, width)
        for layer in layers { shape = layer.outputShape(shape.0, shape.1, shape.2) }
        return shape
    }

    /// Multiply-adds of one forward pass (convolutions only; backward costs twice as many).
    public func multiplyAdds(batch: Int, channels: Int, height: Int, width: Int) -> Int {
        var shape = (channels, height, width), total = 0
        for layer in layers {
            let (c, h, w) = shape
            shape = layer.outputShape(c, h, w)
            switch layer {
            case let .conv(_, i, o, k): total += batch * o * h * w * i * k * k
            case let .convTranspose(_, i, o): total += batch * o * 4 * h * w * i
            case .layerNorm2d, .relu, .gelu: break
            }
        }
        return total
    }
}
