/// Shape of a SAM ViT image encoder (`ImageEncoderViT`, DESIGN §3.1): everything needed to lay out
/// its weights and run it. The three official presets are `vitB`, `vitL`, `vitH`; any other
/// configuration (for example the tiny test model) is inferred from a checkpoint by
/// `infer(from:)`.
///
/// ref: segment_anything/build_sam.py @ dca509f, `_build_sam` (lines 47-105) for the fixed parts
/// (image 1024, patch 16, MLP ratio 4, window 14, neck 256 channels, LayerNorm eps 1e-6).
public struct EncoderConfig: Codable, Equatable, Sendable {
    /// Input side S (images are S x S).
    public var imageSize: Int
    /// Patch side p (patch embedding: conv p x p, stride p).
    public var patchSize: Int
    /// Token channels C.
    public var embedDim: Int
    /// Number of ViT blocks.
    public var depth: Int
    /// Attention heads per block.
    public var heads: Int
    /// MLP hidden size over C (PyTorch takes `int(C * mlpRatio)`).
    public var mlpRatio: Double
    /// Window side of the windowed blocks (0: every block attends globally).
    public var windowSize: Int
    /// Indices of the blocks with global attention.
    public var globalBlocks: [Int]
    /// Neck output channels (the image embedding's channels).
    public var outChannels: Int
    /// LayerNorm / LayerNorm2d epsilon.
    public var eps: Float

    public init(imageSize: Int = 1024, patchSize: Int = 16, embedDim: Int, depth: Int, heads: Int,
                mlpRatio: Double = 4, windowSize: Int = 14, globalBlocks: [Int], outChannels: Int = 256,
                eps: Float = 1e-6) {
        (self.imageSize, self.patchSize, self.embedDim, self.depth, self.heads) =
            (imageSize, patchSize, embedDim, depth, heads)
        (self.mlpRatio, self.windowSize, self.globalBlocks, self.outChannels, self.eps) =
            (mlpRatio, windowSize, globalBlocks, outChannels, eps)
    }

    // MARK: Presets (DESIGN §3.1)

    public static let vitB = EncoderConfig(embedDim: 768, depth: 12, heads: 12, globalBlocks: [2, 5, 8, 11])
    public static let vitL = EncoderConfig(embedDim: 1024, depth: 24, heads: 16, globalBlocks: [5, 11, 17, 23])
    public static let vitH = EncoderConfig(embedDim: 1280, depth: 32, heads: 16, globalBlocks: [7, 15, 23, 31])

    /// Preset names as SAM's model registry spells them.
    public static let presets: [(name: String, config: EncoderConfig)] = [
        ("vit_b", vitB), ("vit_l", vitL), ("vit_h", vitH),
    ]

    /// The preset called `name` (`vit_b`, `vit_l`, `vit_h`), nil for an unknown name.
    public static func preset(named name: String) -> EncoderConfig? {
        presets.first { $0.name == name }?.config
    }

    /// The preset name of this exact configuration, if it is one.
    public var presetName: String? { Self.presets.first { $0.config == self }?.name }

    // MARK: Derived values

    /// Token grid side g = S / p.
    public var gridSize: Int { imageSize / patchSize }
    /// Channels per head D = C / heads.
    public var headDim: Int { embedDim / heads }
    /// MLP hidden size, `int(C * mlpRatio)` as in PyTorch.
    public var mlpDim: Int { Int(Double(embedDim) * mlpRatio) }

    /// Whether block `i` attends over the whole grid (otherwise within windows).
    public func isGlobal(_ block: Int) -> Bool { windowSize == 0 || globalBlocks.contains(block) }

    /// Side of the attention grid of block `i`: the window, or the whole token grid.
    public func attentionGrid(_ block: Int) -> Int { isGlobal(block) ? gridSize : windowSize }

    /// Problems that make this configuration unusable (empty when valid).
    public var problems: [String] {
        var p: [String] = []
        if imageSize <= 0 || patchSize <= 0 || imageSize % patchSize != 0 {
            p.append("imageSize \(imageSize) must be a positive multiple of patchSize \(patchSize)")
        }
        if embedDim <= 0 || heads <= 0 || embedDim % heads != 0 {
            p.append("heads \(heads) must divide embedDim \(embedDim)")
        }
        if depth < 0 { p.append("depth \(depth) is negative") }
        if mlpDim <= 0 { p.append("mlpRatio \(mlpRatio) gives an empty MLP") }
        if windowSize < 0 { p.append("windowSize \(windowSize) is negative") }
        if let bad = globalBlocks.first(where: { $0 < 0 || $0 >= depth }) {
            p.append("global block \(bad) is outside 0..<\(depth)")
        }
        if outChannels <= 0 { p.append("outChannels \(outChannels) must be positive") }
        return p
    }

    /// Field-by-field differences from `preset` ("embedDim: 64 (preset: 768)"); empty when equal.
    public func check(against preset: EncoderConfig) -> [String] {
        func diff<T: Equatable>(_ name: String, _ mine: T, _ theirs: T) -> String? {
            mine == theirs ? nil : "\(name): \(mine) (preset: \(theirs))"
        }
        return [
            diff("imageSize", imageSize, preset.imageSize), diff("patchSize", patchSize, preset.patchSize),
            diff("embedDim", embedDim, preset.embedDim), diff("depth", depth, preset.depth),
            diff("heads", heads, preset.heads), diff("mlpRatio", mlpRatio, preset.mlpRatio),
            diff("windowSize", windowSize, preset.windowSize),
            diff("globalBlocks", globalBlocks, preset.globalBlocks),
            diff("outChannels", outChannels, preset.outChannels), diff("eps", eps, preset.eps),
        ].compactMap { $0 }
    }
}

extension EncoderConfig: CustomStringConvertible {
    public var description: String {
        "image \(imageSize), patch \(patchSize), embed \(embedDim), depth \(depth), heads \(heads), "
            + "mlp ratio \(mlpRatio), window \(windowSize), global blocks \(globalBlocks), out \(outChannels)"
    }
}
