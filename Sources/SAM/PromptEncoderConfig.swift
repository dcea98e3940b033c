import TensorFiles
import Tensors

/// Configuration of SAM's `PromptEncoder` (SAM: dim 256, embedding grid 64 x 64, input image
/// 1024 x 1024, mask_in_chans 16).
public struct PromptEncoderConfig: Codable, Equatable, Sendable {
    public var embedDim: Int
    /// Grid of the image embedding (h, w).
    public var embeddingHeight, embeddingWidth: Int
    /// Padded input image size of the image encoder (H, W); prompt coordinates are in this frame.
    public var inputHeight, inputWidth: Int
    public var maskInChans: Int

    public init(embedDim: Int, embeddingHeight: Int, embeddingWidth: Int, inputHeight: Int, inputWidth: Int,
                maskInChans: Int) {
        precondition(embedDim % 2 == 0 && maskInChans % 4 == 0,
                     "embed dim must be even and mask_in_chans divisible by 4")
        (self.embedDim, self.embeddingHeight, self.embeddingWidth) = (embedDim, embeddingHeight, embeddingWidth)
        (self.inputHeight, self.inputWidth, self.maskInChans) = (inputHeight, inputWidth, maskInChans)
    }

    /// Size of the mask input (4h, 4w).
    public var maskInputHeight: Int { 4 * embeddingHeight }
    public var maskInputWidth: Int { 4 * embeddingWidth }

    /// Infers the configuration from a full SAM checkpoint: D from `prompt_encoder.no_mask_embed`,
    /// mask_in_chans from `mask_downscaling.3`, the embedding grid from `image_encoder.pos_embed`
    /// (1, h, w, E) and the input size from the grid times the patch size of
    /// `image_encoder.patch_embed.proj.weight` (E, 3, k, k).
    public static func inferred(from archive: any TensorArchive) throws -> Self {
        let noMask = try ParameterLoader.shape(archive, "prompt_encoder.no_mask_embed.weight", for: "the prompt dim")
        let conv = try ParameterLoader.shape(archive, "prompt_encoder.mask_downscaling.3.weight", for: "mask_in_chans")
        let pos = try ParameterLoader.shape(archive, "image_encoder.pos_embed", for: "the image embedding grid")
        let patch = try ParameterLoader.shape(archive, "image_encoder.patch_embed.proj.weight",
                                              for: "the input image size")
        guard noMask.count == 2, noMask[1] % 2 == 0, conv.count == 4, conv[0] % 4 == 0, pos.count == 4,
              patch.count == 4 else {
            throw CheckpointError(file: archive.path,
                                  "unexpected prompt encoder shapes: no_mask_embed \(noMask), "
                                  + "mask_downscaling.3 \(conv), pos_embed \(pos), patch_embed \(patch)")
        }
        return Self(embedDim: noMask[1], embeddingHeight: pos[1], embeddingWidth: pos[2],
                    inputHeight: pos[1] * patch[2], inputWidth: pos[2] * patch[3], maskInChans: conv[0])
    }

    /// Every parameter as (checkpoint key, shape) in state-dict order.
    public func parameterShapes(prefix: String = "prompt_encoder.") -> [(name: String, shape: [Int])] {
        let (d, c, c4) = (embedDim, maskInChans, maskInChans / 4)
        var list: [(name: String, shape: [Int])] = [("pe_layer.positional_encoding_gaussian_matrix", [2, d / 2])]
        list += (0..<4).map { ("point_embeddings.\($0).weight", [1, d]) }
        list += [("not_a_point_embed.weight", [1, d]),
                 ("mask_downscaling.0.weight", [c4, 1, 2, 2]), ("mask_downscaling.0.bias", [c4]),
                 ("mask_downscaling.1.weight", [c4]), ("mask_downscaling.1.bias", [c4]),
                 ("mask_downscaling.3.weight", [c, c4, 2, 2]), ("mask_downscaling.3.bias", [c]),
                 ("mask_downscaling.4.weight", [c]), ("mask_downscaling.4.bias", [c]),
                 ("mask_downscaling.6.weight", [d, c, 1, 1]), ("mask_downscaling.6.bias", [d]),
                 ("no_mask_embed.weight", [1, d])]
        return list.map { (prefix + $0.name, $0.shape) }
    }
}
