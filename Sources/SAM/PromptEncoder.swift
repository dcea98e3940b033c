import TensorFiles
import Layers
import Tensors

/// Point prompts: coordinates (B, n, 2) as (x, y) pixels in the encoder's input frame (after
/// `Postprocess.applyCoordinates`), labels (B*n): 1 foreground, 0 background, -1 not a point.
public struct PointPrompts {
    public var coordinates: Tensor
    public var labels: [Int]

    public init(coordinates: Tensor, labels: [Int]) {
        precondition(coordinates.rank == 3 && coordinates.shape[2] == 2
                     && labels.count == coordinates.shape[0] * coordinates.shape[1],
                     "points are (B, n, 2) with B*n labels, got \(coordinates.shape) and \(labels.count) labels")
        (self.coordinates, self.labels) = (coordinates, labels)
    }

    public var batch: Int { coordinates.shape[0] }
    public var count: Int { coordinates.shape[1] }
}

/// SAM's `PromptEncoder` (forward only): sparse embeddings for points and boxes, dense
/// embeddings for a mask input (or `no_mask_embed` everywhere), and the dense positional
/// encoding of the image embedding grid.
/// ref: segment_anything/modeling/prompt_encoder.py @ dca509f, `PromptEncoder`.
///
/// Shapes: B prompts, n points, D dim, h x w embedding grid. sparse (B, n' + 2 [boxes], D),
/// dense (B, D, h, w), mask input (B, 1, 4h, 4w).
public struct PromptEncoder {
    public static let prefix = "prompt_encoder."
    public let config: PromptEncoderConfig
    /// Parameters by checkpoint key (`prompt_encoder.*`) in one flat buffer.
    public let layout: ParameterLayout
    public let values: [Float]
    public let loadReport: LoadReport
    public let positionEmbedding: PositionEmbeddingRandom

    /// Loads `prompt_encoder.*` from a SAM checkpoint; the configuration is inferred from the
    /// checkpoint unless given. Throws a `LoadError` listing missing, unused and
    /// mis-shaped keys.
    public init(loading archive: any TensorArchive, config: PromptEncoderConfig? = nil) throws {
        let config = try config ?? .inferred(from: archive)
        let layout = ParameterLayout(config.parameterShapes(prefix: Self.prefix))
        (self.config, self.layout) = (config, layout)
        (values, loadReport) = try ParameterLoader.load(archive, layout: layout, scope: Self.prefix)
        positionEmbedding = PositionEmbeddingRandom(
            gaussian: layout.tensor(Self.prefix + "pe_layer.positional_encoding_gaussian_matrix", in: values))
    }

    /// The (1, D) row of an embedding table, e.g. `point_embeddings.2.weight`.
    func embedding(_ name: String) -> [Float] { layout.tensor(Self.prefix + name, in: values).data }

    /// `get_dense_pe()`: the positional encoding of the embedding grid, (1, D, h, w).
    public func densePositionalEncoding() -> Tensor {
        let h = config.embeddingHeight, w = config.embeddingWidth
        return positionEmbedding.dense(height: h, width: w).reshaped([1, config.embedDim, h, w])
    }

    /// Embeds the prompts: sparse (B, n', D) with the points (plus a padding point when there
    /// are no boxes) then the two box corners; dense (B, D, h, w). B comes from the first prompt
    /// given (1 when none).
    public func embed(points: PointPrompts?, boxes: Tensor?, masks: Tensor?) -> (sparse: Tensor, dense: Tensor) {
        let d = config.embedDim
        let batch = points?.batch ?? boxes?.shape[0] ?? masks?.shape[0] ?? 1
        var rows: [[Float]] = Array(repeating: [], count: batch)   // per prompt: its tokens (D each)
        if let points {
            precondition(points.batch == batch, "points for \(points.batch) prompts, expected \(batch)")
            let e = embedPoints(points, pad: boxes == nil)
            let perRow = e.count / batch
            for b in 0..<batch { rows[b] += e[b * perRow ..< (b + 1) * perRow] }
        }
        if let boxes {
            precondition(boxes.shape == [batch, 4], "boxes are (B, 4), got \(boxes.shape)")
            let e = embedBoxes(boxes)
            for b in 0..<batch { rows[b] += e[b * 2 * d ..< (b + 1) * 2 * d] }
        }
        let sparse = Tensor(shape: [batch, (rows.first?.count ?? 0) / d, d], data: rows.flatMap { $0 })
        return (sparse, masks.map(embedMasks) ?? noMaskDense(batch: batch))
    }

    /// `_embed_points`: PE of (p + 0.5); label -1 -> `not_a_point_embed` only, 0 / 1 ->
    /// + `point_embeddings[0 / 1]`. With `pad`, a point (0, 0) with label -1 ends each row.
    func embedPoints(_ points: PointPrompts, pad: Bool) -> [Float] {
        let d = config.embedDim, n = points.count + (pad ? 1 : 0)
        var xy: [Float] = [], labels: [Int] = []
        for b in 0..<points.batch {
            for k in 0..<points.count {
                xy += [points.coordinates[b, k, 0] + 0.5, points.coordinates[b, k, 1] + 0.5]
                labels.append(points.labels[b * points.count + k])
            }
            if pad { (xy, labels) = (xy + [0, 0], labels + [-1]) }
        }
        var out = positionEmbedding.encode(coordinates: xy, imageHeight: config.inputHeight,
                                           imageWidth: config.inputWidth).data
        let added = [-1: embedding("not_a_point_embed.weight"), 0: embedding("point_embeddings.0.weight"),
                     1: embedding("point_embeddings.1.weight")]
        for (t, label) in labels.enumerated() {
            guard let extra = added[label] else { continue }
            for c in 0..<d { out[t * d + c] = (label == -1 ? 0 : out[t * d + c]) + extra[c] }
        }
        precondition(out.count == points.batch * n * d)
        return out
    }

    /// `_embed_boxes`: boxes (B, 4) xyxy -> corners (B, 2, D): PE of (corner + 0.5) plus
    /// `point_embeddings[2]` (top-left) / `[3]` (bottom-right).
    func embedBoxes(_ boxes: Tensor) -> [Float] {
        let d = config.embedDim
        var out = positionEmbedding.encode(coordinates: boxes.data.map { $0 + 0.5 }, imageHeight: config.inputHeight,
                                           imageWidth: config.inputWidth).data
        let corners = [embedding("point_embeddings.2.weight"), embedding("point_embeddings.3.weight")]
        for t in 0..<(out.count / d) {
            for c in 0..<d { out[t * d + c] += corners[t % 2][c] }
        }
        return out
    }

    /// `no_mask_embed` broadcast to (B, D, h, w).
    func noMaskDense(batch: Int) -> Tensor {
        let d = config.embedDim, pixels = config.embeddingHeight * config.embeddingWidth
        let e = embedding("no_mask_embed.weight")
        var data: [Float] = []
        data.reserveCapacity(batch * d * pixels)
        for _ in 0..<batch { for c in 0..<d { data += repeatElement(e[c], count: pixels) } }
        return Tensor(shape: [batch, d, config.embeddingHeight, config.embeddingWidth], data: data)
    }
}
