import Tensors

/// One operation of the UNet graph. Parameter names are prefixes (`<name>.weight`, ...).
public enum UNetOp: Equatable, Sendable {
    /// `nn.Conv2d(in, out, 3, padding=1, bias=False)` -> `nn.InstanceNorm2d(out, affine=True)` -> ReLU:
    /// `<name>.conv.weight` (O, I, 3, 3), `<name>.norm.weight` (O) initially 1, `<name>.norm.bias` (O) initially 0.
    /// The convolution has no bias: the affine normalisation right after it would cancel it.
    case convNormReLU(String, inChannels: Int, outChannels: Int)
    /// `nn.MaxPool2d(2)`.
    case maxPool
    /// `nn.ConvTranspose2d(in, out, 2, stride=2)`: `<name>.weight` (I, O, 2, 2), `<name>.bias` (O).
    case upConv(String, inChannels: Int, outChannels: Int)
    /// `torch.cat([skip, upsampled], dim=1)`.
    case concat
    /// `nn.Conv2d(in, out, 1)` with bias: `<name>.weight` (O, I, 1, 1), `<name>.bias` (O).
    case classifier(String, inChannels: Int, outChannels: Int)

    /// Parameter tensors (name, shape, initialisation) in state-dict order.
    var parameters: [(name: String, shape: [Int], initialization: ParameterInit)] {
        switch self {
        case let .convNormReLU(name, i, o):
            return [(name + ".conv.weight", [o, i, 3, 3], .pyTorchDefault(fanIn: i * 9)),
                    (name + ".norm.weight", [o], .constant(1)), (name + ".norm.bias", [o], .constant(0))]
        case let .upConv(name, i, o):
            return [(name + ".weight", [i, o, 2, 2], .pyTorchDefault(fanIn: o * 4)),
                    (name + ".bias", [o], .pyTorchDefault(fanIn: o * 4))]
        case let .classifier(name, i, o):
            return [(name + ".weight", [o, i, 1, 1], .pyTorchDefault(fanIn: i)),
                    (name + ".bias", [o], .pyTorchDefault(fanIn: i))]
        case .maxPool, .concat:
            return []
        }
    }
}

/// One node of the UNet graph: `op` reads the values `inputs` and writes the value `output`;
/// its parameters start at `offset` in the flat buffer (-1 without parameters).
public struct UNetUnit: Equatable, Sendable {
    public let op: UNetOp
    public let inputs: [Int]
    public let output: Int
    let offset: Int
}

/// The UNet baseline (DESIGN §1, issue 8) trained from scratch on the raw slices, as a
/// `SegmentationHead` whose "embedding" is the network input image (3, S, S) (see
/// `IdentitySliceEncoder`) and whose logits are (K, S, S). With base width w and L levels:
///
///     encoders.0:        convNormReLU 3 -> w, convNormReLU w -> w                 (S)
///     encoders.l (1..L): maxPool, convNormReLU w 2^(l-1) -> w 2^l, then w 2^l -> w 2^l
///                        (encoders.L is the bottleneck, S / 2^L)
///     for l = L-1 ... 0: ups.l ConvT w 2^(l+1) -> w 2^l, concat [encoders.l output, up],
///                        decoders.l: convNormReLU 2 w 2^l -> w 2^l, then w 2^l -> w 2^l
///     final:             conv1x1 w -> K
///
/// Instance normalisation (not batch normalisation) keeps every image independent of the
/// others in a batch, so the global batch's split over ranks never changes the result. S must be
/// a multiple of 2^L. No frozen state. Values: 0 is the input, the last one the logits.
public struct UNet: SegmentationHead, Equatable, Sendable {
    public let inputChannels: Int
    public let classes: Int
    /// w, channels of the first level (`head.channels`).
    public let width: Int
    /// L, the number of max-pool down-sampling steps (`head.depth`).
    public let levels: Int
    public let layout: ParameterLayout
    /// The graph in execution order.
    public let units: [UNetUnit]
    /// Channels of every value, and its grid as a power-of-two divisor of the input grid.
    let valueChannels: [Int], valueLevels: [Int]
    private let initializations: [String: ParameterInit]

    public init(inputChannels: Int = 3, classes: Int, width: Int = 64, levels: Int = 4) {
        precondition(inputChannels > 0 && classes >= 2 && width > 0 && levels >= 1, "bad UNet configuration")
        (self.inputChannels, self.classes, self.width, self.levels) = (inputChannels, classes, width, levels)
        var builder = Builder(inputChannels: inputChannels)
        var x = 0, skips: [Int] = []
        for l in 0...levels {
            let c = width << l
            if l > 0 { x = builder.add(.maxPool, [x], channels: c / 2, level: l) }
            x = builder.add(.convNormReLU("encoders.\(l).0", inChannels: builder.channels[x], outChannels: c), [x],
                            channels: c, level: l)
            x = builder.add(.convNormReLU("encoders.\(l).1", inChannels: c, outChannels: c), [x], channels: c, level: l)
            if l < levels { skips.append(x) }
        }
        for l in (0..<levels).reversed() {
            let c = width << l
            let up = builder.add(.upConv("ups.\(l)", inChannels: 2 * c, outChannels: c), [x], channels: c, level: l)
            let joined = builder.add(.concat, [skips[l], up], channels: 2 * c, level: l)
            x = builder.add(.convNormReLU("decoders.\(l).0", inChannels: 2 * c, outChannels: c), [joined],
                            channels: c, level: l)
            x = builder.add(.convNormReLU("decoders.\(l).1", inChannels: c, outChannels: c), [x], channels: c, level: l)
        }
        _ = builder.add(.classifier("final", inChannels: width, outChannels: classes), [x], channels: classes, level: 0)
        (units, layout, valueChannels, valueLevels) = (builder.units, builder.layout, builder.channels, builder.levels)
        initializations = builder.initializations
    }

    private struct Builder {
        var units: [UNetUnit] = [], layout = ParameterLayout()
        var channels: [Int], levels = [0]
        var initializations: [String: ParameterInit] = [:]

        init(inputChannels: Int) { channels = [inputChannels] }

        mutating func add(_ op: UNetOp, _ inputs: [Int], channels c: Int, level: Int) -> Int {
            let tensors = op.parameters
            units.append(UNetUnit(op: op, inputs: inputs, output: channels.count,
                                  offset: tensors.isEmpty ? -1 : layout.totalCount))
            for t in tensors {
                layout.append(t.name, shape: t.shape)
                initializations[t.name] = t.initialization
            }
            channels.append(c)
            levels.append(level)
            return channels.count - 1
        }
    }

    public var frozenLayout: ParameterLayout { ParameterLayout() }

    public func outputSize(height: Int, width: Int) -> (height: Int, width: Int) { (height, width) }

    public func initialization(of name: String) -> ParameterInit {
        guard let rule = initializations[name] else { preconditionFailure("no parameter \(name) in this UNet") }
        return rule
    }

    public func makeWorkspace() -> UNetWorkspace { UNetWorkspace() }

    /// (C, H, W) of value `v` for an input grid of H x W.
    func shape(ofValue v: Int, height: Int, width: Int) -> FeatureShape {
        FeatureShape(channels: valueChannels[v], height: height >> valueLevels[v], width: width >> valueLevels[v])
    }

    /// Multiply-adds of one forward pass of a batch of S x S images (convolutions only), through
    /// the first `unitCount` units (default all; `encoderUnitCount` for the encoder path).
    public func multiplyAdds(batch: Int, size: Int, units unitCount: Int? = nil) -> Int {
        units.prefix(unitCount ?? units.count).reduce(0) { total, unit in
            let out = shape(ofValue: unit.output, height: size, width: size)
            switch unit.op {
            case let .convNormReLU(_, i, _): return total + batch * out.count * i * 9
            case let .upConv(_, i, _), let .classifier(_, i, _): return total + batch * out.count * i
            case .maxPool, .concat: return total
            }
        }
    }
}
