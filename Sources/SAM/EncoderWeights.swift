import Tensors

/// One named tensor of a frozen model: its checkpoint key, shape, place in the weight storage and
/// how a fresh PyTorch module initialises it (used by the random-weights constructor).
public struct WeightSlot: Equatable, Sendable, CustomStringConvertible {
    public let key: String
    public let shape: [Int]
    /// Element offset inside the model's storage.
    public let offset: Int
    public let initialization: ParameterInit
    public var count: Int { shape.reduce(1, *) }
    public var description: String { "\(key) \(shape)" }
}

/// Lays out slots one after another, in the order they are requested (the state-dict order).
struct SlotAllocator {
    let prefix: String
    private(set) var slots: [WeightSlot] = []
    private(set) var total = 0

    init(prefix: String) { self.prefix = prefix }

    mutating func slot(_ key: String, _ shape: [Int], _ initialization: ParameterInit) -> WeightSlot {
        let s = WeightSlot(key: prefix + key, shape: shape, offset: total, initialization: initialization)
        slots.append(s)
        total += s.count
        return s
    }

    /// Weight (O, fanIn...) and bias (O) of a Linear / Conv2d with PyTorch's default bounds.
    mutating func affine(_ name: String, _ weightShape: [Int], bias: Bool = true)
        -> (weight: WeightSlot, bias: WeightSlot?) {
        let bound = 1 / Float(weightShape.dropFirst().reduce(1, *)).squareRoot()
        let w = slot(name + ".weight", weightShape, .uniform(bound: bound))
        return (w, bias ? slot(name + ".bias", [weightShape[0]], .uniform(bound: bound)) : nil)
    }

    /// LayerNorm / LayerNorm2d weight (ones) and bias (zeros).
    mutating func norm(_ name: String, _ channels: Int) -> (weight: WeightSlot, bias: WeightSlot) {
        (slot(name + ".weight", [channels], .constant(1)), slot(name + ".bias", [channels], .constant(0)))
    }
}

/// The key table of SAM's `ImageEncoderViT`: one slot per checkpoint tensor, in state-dict order,
/// with fields named after the PyTorch keys (`blocks[i].attnQkvWeight` is
/// `image_encoder.blocks.<i>.attn.qkv.weight`).
///
/// ref: segment_anything/modeling/image_encoder.py @ dca509f: `ImageEncoderViT.__init__`
/// (lines 18-106), `Block.__init__` (lines 112-154), `Attention.__init__` (lines 187-221),
/// `PatchEmbed` (lines 363-395); common.py `MLPBlock`, `LayerNorm2d`.
/// Shapes: C embed dim, g grid, p patch, S attention grid of the block, D head dim, M MLP dim, O out channels.
public struct ImageEncoderTable: Sendable {
    /// The slots of one ViT block.
    public struct Block: Sendable {
        public let norm1Weight, norm1Bias: WeightSlot          // norm1.weight/bias (C)
        public let attnRelPosH, attnRelPosW: WeightSlot        // attn.rel_pos_h/w (2S-1, D)
        public let attnQkvWeight, attnQkvBias: WeightSlot      // attn.qkv.weight (3C, C), .bias (3C)
        public let attnProjWeight, attnProjBias: WeightSlot    // attn.proj.weight (C, C), .bias (C)
        public let norm2Weight, norm2Bias: WeightSlot          // norm2.weight/bias (C)
        public let mlpLin1Weight, mlpLin1Bias: WeightSlot      // mlp.lin1.weight (M, C), .bias (M)
        public let mlpLin2Weight, mlpLin2Bias: WeightSlot      // mlp.lin2.weight (C, M), .bias (C)

        init(_ a: inout SlotAllocator, index i: Int, config c: EncoderConfig) {
            let p = "blocks.\(i).", e = c.embedDim, s = c.attentionGrid(i)
            (norm1Weight, norm1Bias) = a.norm(p + "norm1", e)
            attnRelPosH = a.slot(p + "attn.rel_pos_h", [2 * s - 1, c.headDim], .normal(mean: 0, std: 0.02))
            attnRelPosW = a.slot(p + "attn.rel_pos_w", [2 * s - 1, c.headDim], .normal(mean: 0, std: 0.02))
            let qkv = a.affine(p + "attn.qkv", [3 * e, e]), proj = a.affine(p + "attn.proj", [e, e])
            (attnQkvWeight, attnQkvBias) = (qkv.weight, qkv.bias!)
            (attnProjWeight, attnProjBias) = (proj.weight, proj.bias!)
            (norm2Weight, norm2Bias) = a.norm(p + "norm2", e)
            let lin1 = a.affine(p + "mlp.lin1", [c.mlpDim, e]), lin2 = a.affine(p + "mlp.lin2", [e, c.mlpDim])
            (mlpLin1Weight, mlpLin1Bias) = (lin1.weight, lin1.bias!)
            (mlpLin2Weight, mlpLin2Bias) = (lin2.weight, lin2.bias!)
        }
    }

    public let posEmbed: WeightSlot                              // pos_embed (1, g, g, C)
    public let patchEmbedProjWeight, patchEmbedProjBias: WeightSlot   // patch_embed.proj.weight (C, 3, p, p), .bias (C)
    public let blocks: [Block]
    public let neck0Weight: WeightSlot                           // neck.0.weight (O, C, 1, 1), no bias
    public let neck1Weight, neck1Bias: WeightSlot                // neck.1 LayerNorm2d (O)
    public let neck2Weight: WeightSlot                           // neck.2.weight (O, O, 3, 3), no bias
    public let neck3Weight, neck3Bias: WeightSlot                // neck.3 LayerNorm2d (O)
    /// Every slot in state-dict order.
    public let slots: [WeightSlot]
    /// Elements of all slots together.
    public let totalCount: Int

    public init(config c: EncoderConfig, prefix: String = EncoderConfig.checkpointPrefix) {
        var a = SlotAllocator(prefix: prefix)
        let e = c.embedDim, o = c.outChannels
        posEmbed = a.slot("pos_embed", [1, c.gridSize, c.gridSize, e], .normal(mean: 0, std: 0.02))
        let patch = a.affine("patch_embed.proj", [e, 3, c.patchSize, c.patchSize])
        (patchEmbedProjWeight, patchEmbedProjBias) = (patch.weight, patch.bias!)
        blocks = (0..<c.depth).map { Block(&a, index: $0, config: c) }
        neck0Weight = a.affine("neck.0", [o, e, 1, 1], bias: false).weight
        (neck1Weight, neck1Bias) = a.norm("neck.1", o)
        neck2Weight = a.affine("neck.2", [o, o, 3, 3], bias: false).weight
        (neck3Weight, neck3Bias) = a.norm("neck.3", o)
        (slots, totalCount) = (a.slots, a.total)
    }
}

/// Read-only storage of a frozen model's weights: one allocation, filled once, never written after.
final class FrozenStorage: @unchecked Sendable {
    let base: UnsafePointer<Float>
    let count: Int

    /// Allocates `count` floats and lets `fill` write them once.
    init(count: Int, fill: (UnsafeMutablePointer<Float>) throws -> Void) rethrows {
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
        do { try fill(buffer) } catch { buffer.deallocate(); throw error }
        (base, self.count) = (UnsafePointer(buffer), count)
    }

    deinit { UnsafeMutablePointer(mutating: base).deallocate() }
}

/// The frozen weights of a SAM image encoder: its configuration, its key table and one read-only
/// storage. Fields of the table are reachable directly (`weights.blocks[3].attnQkvWeight`);
/// `weights[slot]` is the slot's data. Safe to share between threads.
@dynamicMemberLookup
public struct ImageEncoderWeights: Sendable {
    public let config: EncoderConfig
    public let table: ImageEncoderTable
    private let storage: FrozenStorage

    /// Builds the table for `config` and lets `fill` write each slot's data (slot, destination).
    init(config: EncoderConfig, fill: (WeightSlot, UnsafeMutablePointer<Float>) throws -> Void) throws {
        guard config.problems.isEmpty else { throw SAMLoadError.invalidConfig(problems: config.problems) }
        let table = ImageEncoderTable(config: config)
        storage = try FrozenStorage(count: table.totalCount) { base in
            for slot in table.slots { try fill(slot, base + slot.offset) }
        }
        (self.config, self.table) = (config, table)
    }

    public subscript<T>(dynamicMember path: KeyPath<ImageEncoderTable, T>) -> T { table[keyPath: path] }

    /// The slot's data (valid while these weights exist).
    public subscript(_ slot: WeightSlot) -> UnsafePointer<Float> { storage.base + slot.offset }

    /// A copy of the slot's data as a tensor.
    public func tensor(_ slot: WeightSlot) -> Tensor {
        Tensor(shape: slot.shape, data: Array(UnsafeBufferPointer(start: self[slot], count: slot.count)))
    }

    /// Number of parameters.
    public var parameterCount: Int { table.totalCount }
}
