import TensorFiles

extension EncoderConfig {
    /// Key prefix of the image encoder in SAM checkpoints.
    public static let checkpointPrefix = "image_encoder."

    /// Reads the configuration off the `image_encoder.*` tensor shapes of a SAM checkpoint:
    /// - embed dim C and patch p from `patch_embed.proj.weight` (C, 3, p, p);
    /// - grid g from `pos_embed` (1, g, g, C), image size g * p;
    /// - depth from the highest `blocks.<i>` index;
    /// - head dim D from the second dim of the `attn.rel_pos_h` tables (2S - 1, D), heads = C / D;
    /// - global blocks: tables with 2g - 1 rows; the window S from the other blocks' 2S - 1 rows
    ///   (0 when every block is global);
    /// - MLP ratio from `blocks.0.mlp.lin1.weight` (C * ratio, C); out channels from `neck.0.weight`.
    /// Tensors the rules do not look at are checked later by `ImageEncoderWeights.load`.
    /// Throws `SAMLoadError.cannotInferConfig` listing everything that is missing or inconsistent.
    public static func infer(from archive: any TensorArchive) throws -> EncoderConfig {
        var reader = ShapeReader(archive: archive, prefix: checkpointPrefix)
        let patch = reader.shape("patch_embed.proj.weight", rank: 4)
        let pos = reader.shape("pos_embed", rank: 4)
        let neck = reader.shape("neck.0.weight", rank: 4)
        let depth = reader.blockCount()
        let lin1 = depth > 0 ? reader.shape("blocks.0.mlp.lin1.weight", rank: 2) : nil
        guard let patch, let pos, let neck, reader.reasons.isEmpty else {
            throw SAMLoadError.cannotInferConfig(file: archive.path, reasons: reader.reasons)
        }
        let (embed, grid) = (patch[0], pos[1])
        let attention = reader.attentionLayout(depth: depth, grid: grid, embed: embed)
        guard reader.reasons.isEmpty else {
            throw SAMLoadError.cannotInferConfig(file: archive.path, reasons: reader.reasons)
        }
        let ratio = lin1.map { Double($0[0]) / Double(embed) } ?? 4
        return EncoderConfig(imageSize: grid * patch[2], patchSize: patch[2], embedDim: embed, depth: depth,
                             heads: attention.heads, mlpRatio: ratio, windowSize: attention.window,
                             globalBlocks: attention.global, outChannels: neck[0])
    }
}

/// Shape look-ups under a key prefix that collect every problem instead of stopping at the first.
private struct ShapeReader {
    let archive: any TensorArchive
    let prefix: String
    var reasons: [String] = []

    init(archive: any TensorArchive, prefix: String) {
        (self.archive, self.prefix) = (archive, prefix)
    }

    mutating func shape(_ key: String, rank: Int) -> [Int]? {
        guard let info = try? archive.info(prefix + key) else {
            reasons.append("no tensor '\(prefix + key)'")
            return nil
        }
        guard info.shape.count == rank, info.shape.allSatisfy({ $0 > 0 }) else {
            reasons.append("'\(prefix + key)' has shape \(info.shape), expected \(rank) positive dims")
            return nil
        }
        return info.shape
    }

    /// 1 + the highest `<prefix>blocks.<i>.` index (0 without blocks).
    func blockCount() -> Int {
        let blocks = prefix + "blocks."
        let indices = archive.names.compactMap { name -> Int? in
            guard name.hasPrefix(blocks) else { return nil }
            return Int(name.dropFirst(blocks.count).prefix { $0 != "." })
        }
        return (indices.max() ?? -1) + 1
    }

    /// Heads, window side and global blocks from the blocks' `rel_pos_h` (or `rel_pos_w`) tables.
    mutating func attentionLayout(depth: Int, grid: Int, embed: Int) -> (heads: Int, window: Int, global: [Int]) {
        var headDims = Set<Int>(), windows = Set<Int>(), global: [Int] = []
        for i in 0..<depth {
            let h = "blocks.\(i).attn.rel_pos_h", w = "blocks.\(i).attn.rel_pos_w"
            let key = archive.names.contains(prefix + h) ? h : w
            guard let table = shape(key, rank: 2) else { continue }
            guard table[0] % 2 == 1 else {
                reasons.append("'\(prefix + key)' has \(table[0]) rows, expected 2S - 1 (odd)")
                continue
            }
            headDims.insert(table[1])
            if table[0] == 2 * grid - 1 { global.append(i) } else { windows.insert((table[0] + 1) / 2) }
        }
        if headDims.count > 1 {
            reasons.append("relative-position tables disagree on the head dim: \(headDims.sorted())")
        }
        if windows.count > 1 { reasons.append("windowed blocks disagree on the window size: \(windows.sorted())") }
        let headDim = headDims.first ?? embed
        if embed % headDim != 0 { reasons.append("head dim \(headDim) does not divide embed dim \(embed)") }
        return (embed / max(headDim, 1), windows.first ?? 0, global)
    }
}
