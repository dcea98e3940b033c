import TensorFiles
import Layers
import Tensors

/// SAM's ViT image encoder (`ImageEncoderViT`), forward only, on frozen weights:
/// patch embedding (conv p x p stride p) + absolute position embedding, `depth` ViT blocks
/// (windowed or global attention with decomposed relative positions, MLP with exact GELU), then
/// the neck: conv 1x1 -> LayerNorm2d -> conv 3x3 pad 1 -> LayerNorm2d.
///
/// ref: segment_anything/modeling/image_encoder.py @ dca509f, `ImageEncoderViT.forward`
/// (lines 108-119), `Block.forward` (lines 156-172).
///
/// Shapes: B batch, S image side, p patch, g = S / p grid, C embed dim, O out channels.
/// images (B, 3, S, S) NCHW -> embedding (B, O, g, g) NCHW; inside the blocks tokens are
/// (B, g, g, C) NHWC as in SAM. All scratch lives in an `ImageEncoderWorkspace`.
public struct ImageEncoder: Sendable {
    /// Intermediate results a caller can observe (the fixtures' debug tensors).
    public enum Tap: Equatable, Sendable {
        /// Patch embedding output, before adding `pos_embed`: (B, g, g, C).
        case patchEmbed
        /// Output of block i: (B, g, g, C).
        case block(Int)
    }

    public let weights: ImageEncoderWeights
    public var config: EncoderConfig { weights.config }
    /// bfloat16 copies of the large linears' weights when the precision is bf16
    /// (`ImageEncoder+Precision.swift`); nil: float32.
    var reduced: ReducedEncoderWeights?

    public init(weights: ImageEncoderWeights) { self.weights = weights }

    /// Loads a SAM checkpoint's image encoder (see `ImageEncoderWeights.load(from:preset:)`).
    public init(archive: any TensorArchive, preset: EncoderConfig? = nil) throws {
        weights = try ImageEncoderWeights.load(from: archive, preset: preset)
    }

    /// Embedding (B, O, g, g) of images (B, 3, S, S). `workspace` (made for this configuration and
    /// batch) is reused across calls when given; `tap` receives copies of the intermediates.
    public func forward(_ images: Tensor, workspace: ImageEncoderWorkspace? = nil,
                        tap: ((Tap, Tensor) -> Void)? = nil) -> Tensor {
        let c = config
        precondition(images.rank == 4 && images.shape.dropFirst() == [3, c.imageSize, c.imageSize],
                     "image encoder input \(images.shape), expected (B, 3, \(c.imageSize), \(c.imageSize))")
        let batch = images.shape[0]
        let ws = workspace ?? ImageEncoderWorkspace(config: c, batch: batch)
        precondition(ws.batch == batch, "workspace for batch \(ws.batch), input batch \(batch)")
        var out = Tensor(zeros: [batch, c.outChannels, c.gridSize, c.gridSize])
        images.withPointer { x in
            out.withMutablePointer { y in forward(output: y, images: x, workspace: ws, tap: tap) }
        }
        return out
    }

    /// output (B, O, g, g) <- images (B, 3, S, S), B = `workspace.batch`.
    public func forward(output: UnsafeMutablePointer<Float>, images: UnsafePointer<Float>,
                        workspace ws: ImageEncoderWorkspace, tap: ((Tap, Tensor) -> Void)? = nil) {
        precondition(ws.config == config, "workspace made for another configuration")
        let tokenShape = [ws.batch, config.gridSize, config.gridSize, config.embedDim]
        func observe(_ t: Tap) {
            guard let tap else { return }
            let tokens = UnsafeBufferPointer(start: ws.tokens, count: tokenShape.reduce(1, *))
            tap(t, Tensor(shape: tokenShape, data: Array(tokens)))
        }
        ws.timed(.patchEmbed) { patchEmbed(images: images, ws) }
        observe(.patchEmbed)
        ws.timed(.patchEmbed) { addPositionEmbedding(ws) }
        for i in 0..<config.depth {
            block(i, ws)
            observe(.block(i))
        }
        ws.timed(.neck) { neck(output: output, ws) }
    }

    /// tokens (B, g, g, C) <- conv(images) (B, C, g, g) transposed; `normed` holds the NCHW result.
    private func patchEmbed(images: UnsafePointer<Float>, _ ws: ImageEncoderWorkspace) {
        let c = config, w = weights
        let shape = Conv2d.Shape(batch: ws.batch, inChannels: 3, outChannels: c.embedDim, height: c.imageSize,
                                 width: c.imageSize, kernel: c.patchSize, stride: c.patchSize)
        Conv2d.forward(y: ws.normed, x: images, weight: w[w.patchEmbedProjWeight], bias: w[w.patchEmbedProjBias],
                       shape: shape)
        let pixels = c.gridSize * c.gridSize
        for b in 0..<ws.batch {
            let offset = b * pixels * c.embedDim
            Transpose.matrix(ws.tokens + offset, ws.normed + offset, rows: c.embedDim, columns: pixels)
        }
    }

    /// tokens (B, g, g, C) += pos_embed (1, g, g, C).
    private func addPositionEmbedding(_ ws: ImageEncoderWorkspace) {
        let n = config.gridSize * config.gridSize * config.embedDim
        let pos = weights[weights.posEmbed]
        for b in 0..<ws.batch {
            let t = ws.tokens + b &* n
            for i in 0..<n { t[i] += pos[i] }
        }
    }

    /// output (B, O, g, g) <- LN2d(conv3x3(LN2d(conv1x1(tokens as NCHW)))); `neck` holds the middle.
    private func neck(output: UnsafeMutablePointer<Float>, _ ws: ImageEncoderWorkspace) {
        let c = config, w = weights, pixels = c.gridSize * c.gridSize
        for b in 0..<ws.batch {
            let offset = b * pixels * c.embedDim
            Transpose.matrix(ws.normed + offset, ws.tokens + offset, rows: pixels, columns: c.embedDim)
        }
        let reduce = Conv2d.Shape(batch: ws.batch, inChannels: c.embedDim, outChannels: c.outChannels,
                                  height: c.gridSize, width: c.gridSize, kernel: 1)
        Conv2d.forward(y: ws.neck, x: ws.normed, weight: w[w.neck0Weight], bias: nil, shape: reduce)
        LayerNorm2d.forward(y: ws.neck, mean: ws.rowMean, rstd: ws.rowRstd, x: ws.neck, weight: w[w.neck1Weight],
                            bias: w[w.neck1Bias], batch: ws.batch, channels: c.outChannels, pixels: pixels, eps: c.eps)
        let mix = Conv2d.Shape(batch: ws.batch, inChannels: c.outChannels, outChannels: c.outChannels,
                               height: c.gridSize, width: c.gridSize, kernel: 3, padding: 1)
        Conv2d.forward(y: output, x: ws.neck, weight: w[w.neck2Weight], bias: nil, shape: mix)
        LayerNorm2d.forward(y: output, mean: ws.rowMean, rstd: ws.rowRstd, x: output, weight: w[w.neck3Weight],
                            bias: w[w.neck3Bias], batch: ws.batch, channels: c.outChannels, pixels: pixels, eps: c.eps)
    }
}
