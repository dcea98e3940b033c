/// Analytic floating-point operation count of one encoder forward pass, as PyTorch's
/// `ImageEncoderViT` executes it (a multiply-add is 2 FLOPs; element-wise work such as softmax,
/// GELU, LayerNorm and additions is not counted). For vit_b at 1024 x 1024 this is 972 GFLOP.
/// With `projectionsOnPadding: false`, the count of this implementation, whose windowed blocks run
/// the qkv and output projections on the real tokens only (`EncoderAttention.forwardWindowed`):
/// 942 GFLOP for vit_b at 1024.
///
/// Per image, with g grid, C embed dim, M MLP dim, O out channels, p patch, and for each block the
/// attention rows R (g^2 for global blocks, windows x S^2 for windowed blocks: the padded tokens
/// are computed too) and the attention grid T = S^2 tokens (S = g for global blocks):
/// - patch embed: 2 g^2 C (3 p^2);
/// - qkv: 2 R C (3C); projection: 2 R C C;
/// - attention: q k^T and P v, 2 T D each per query and head: 4 R T C;
/// - relative positions: `einsum(q, Rh)` and `einsum(q, Rw)`, S D each per query and head: 4 R S C;
/// - MLP: 2 * 2 g^2 C M;
/// - neck: 2 g^2 C O (1x1 conv) + 2 g^2 O (9 O) (3x3 conv).
public struct EncoderFLOPs: Sendable, Equatable {
    public var patchEmbed = 0.0, qkv = 0.0, attention = 0.0, relativePosition = 0.0
    public var projection = 0.0, mlp = 0.0, neck = 0.0

    public var total: Double { patchEmbed + qkv + attention + relativePosition + projection + mlp + neck }

    /// FLOPs of `images` forward passes of `config`.
    public init(config c: EncoderConfig, images: Int = 1, projectionsOnPadding: Bool = true) {
        let b = Double(images), e = Double(c.embedDim), m = Double(c.mlpDim), o = Double(c.outChannels)
        let tokens = Double(c.gridSize * c.gridSize)
        let windowRows = Double(ImageEncoderWorkspace.windowTokensPerImage(c))
        patchEmbed = 2 * b * tokens * e * Double(3 * c.patchSize * c.patchSize)
        for i in 0..<c.depth {
            let side = Double(c.attentionGrid(i))
            let rows = b * (c.isGlobal(i) ? tokens : windowRows)
            let projected = projectionsOnPadding ? rows : b * tokens
            qkv += 2 * projected * e * 3 * e
            projection += 2 * projected * e * e
            attention += 4 * rows * side * side * e
            relativePosition += 4 * rows * side * e
            mlp += 4 * b * tokens * e * m
        }
        neck = 2 * b * tokens * (e * o + 9 * o * o)
    }
}
