/// How a fresh PyTorch module initialises one tensor: the rule of a head's parameters (Heads) and
/// of the SAM image encoder's random weights (SAM `WeightSlot`, for benchmarks and demos).
///
/// `values(count:name:seed:)` draws a head's tensor from the counter-based generator so that every
/// rank computes the same values from the run seed. Each tensor draws from its own stream, derived
/// from the seed and a hash of its state-dict name, so adding or reordering tensors never changes
/// the values of the others. (The SAM encoder draws its own way, by slot index.)
public enum ParameterInit: Equatable, Sendable {
    /// U(-bound, bound): Linear / Conv2d weights and biases (`pyTorchDefault(fanIn:)`).
    case uniform(bound: Float)
    /// N(mean, std^2): `nn.Embedding` weights and `torch.randn` buffers use N(0, 1).
    case normal(mean: Float, std: Float)
    /// Every element `value` (LayerNorm weight 1, bias 0).
    case constant(Float)

    /// PyTorch's default for the weight and the bias of `nn.Conv2d`, `nn.ConvTranspose2d` and
    /// `nn.Linear`: `kaiming_uniform_(a=sqrt(5))` gives U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the
    /// weight and `reset_parameters` the same bound for the bias, where `fan_in` is computed
    /// from the weight: `weight.size(1) * kh * kw` (so for a transposed convolution, whose
    /// weight is (I, O, kh, kw), it is O * kh * kw).
    public static func pyTorchDefault(fanIn: Int) -> ParameterInit {
        precondition(fanIn > 0, "fan_in must be positive")
        return .uniform(bound: 1 / Float(fanIn).squareRoot())
    }

    /// Stream of the head initialisation ("HEAD"), separate from data and augmentation streams.
    static let stream: UInt64 = 0x4845_4144

    /// `count` values of this distribution for the tensor `name`.
    public func values(count: Int, name: String, seed: UInt64) -> [Float] {
        let rng = CounterRNG(seed: seed, stream: Self.stream).substream(Self.nameHash(name))
        switch self {
        case .uniform(let bound): return rng.uniforms(count, low: -bound, high: bound)
        case .normal(let mean, let std): return rng.normals(count, mean: mean, std: std)
        case .constant(let value): return [Float](repeating: value, count: count)
        }
    }

    /// The flat buffer of `layout` with every entry initialised by `rule(name)`.
    public static func values(_ layout: ParameterLayout, seed: UInt64,
                              _ rule: (String) -> ParameterInit) -> [Float] {
        var buffer = [Float]()
        buffer.reserveCapacity(layout.totalCount)
        for entry in layout.entries {
            buffer += rule(entry.name).values(count: entry.count, name: entry.name, seed: seed)
        }
        return buffer
    }

    /// FNV-1a over the UTF-8 bytes: stable across processes (unlike `Hasher`).
    static func nameHash(_ name: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in name.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }
}
