import SAM
import Tensors

/// What the AutoSAM head's forward pass saves for its backward pass, and the backward pass's
/// gradient buffers, sized for one input geometry (B, h, w) and reused while it stays the same.
/// The IoU predictions and the intermediates are readable after `forward` (copies, for tests and
/// inspection). The upscaling keeps only its first layer's output per row (u1): the rest, and the
/// upscaled embedding itself, are recomputed one row at a time in backward, which costs the second
/// transposed convolution again and saves ~4x the memory (`AutoSAMHeadWorkspace+Upscaling.swift`).
///
/// Shapes: R = B K transformer rows (r = b K + c), N = 1 + T tokens, D dim, P = h w, C2 = D / 8,
/// Q = 16 P. The image embedding is held once per image and the PE once: the transformer reads
/// them through `TwoWayTransformer.Shape`'s repeats instead of K-fold copies.
public final class AutoSAMHeadWorkspace {
    /// One MLP applied to one token of every row: input (R, D) gathered from hs, hidden
    /// (L-1, R, H) after ReLU, output (R, O).
    final class TokenMLP {
        let shape: MLPBlock.Shape
        let input, hidden, output: FloatBuffer

        init(_ shape: MLPBlock.Shape) {
            self.shape = shape
            input = FloatBuffer(count: shape.rows * shape.inputDim)
            hidden = FloatBuffer(count: shape.hiddenCount)
            output = FloatBuffer(count: shape.rows * shape.outputDim)
        }
    }

    /// Every buffer of one geometry.
    final class Buffers {
        let batch, height, width, rows, tokensPerRow: Int
        let tokens: FloatBuffer        // (R, N, D) transformer input tokens
        let image: FloatBuffer         // (B, P, D) image embedding as tokens
        let imagePE: FloatBuffer       // (1, P, D) dense positional encoding as tokens
        let transformer: TwoWayTransformer.Activations   // hs (R, N, D), src (R, P, D) and saved activations
        /// One per row: u1 (C1, 2h, 2w) of row r in `savedU1`, g1 and u2 shared (one row's).
        let upscaling: [MaskDecoder.Upscaling.Activations]
        let savedU1: FloatBuffer       // (R, C1, 2h, 2w)
        let rowUpscaled: FloatBuffer   // (C2, 4h, 4w) one row's upscaled embedding, then its gradient
        /// The upscaled embedding (R, C2, 4h, 4w) of the last forward, when `keepsUpscaledEmbedding`.
        var keptUpscaled: [Float]?
        let hypernetworks: [TokenMLP]  // T, hypernetwork t on token 1 + t: (R, C2)
        let iouHead: TokenMLP          // on token 0: (R, T)
        let rowChannels: FloatBuffer   // (D, h, w) one row of src in NCHW, the upscaling input
        let gradientKeys: FloatBuffer      // (R, P, D) dL/d src, consumed by the transformer's backward
        let gradientHyper: FloatBuffer     // (R, C2) dL/d hypernetwork-0 output
        let gradientRow: FloatBuffer       // (D, h, w) dL/d rowChannels
        let gradientQueries: FloatBuffer   // (R, N, D) dL/d hs
        let gradientTokens: FloatBuffer    // (R, N, D) dL/d input tokens
        /// The gaussian matrix `imagePE` was computed from.
        var gaussian: [Float] = []
        /// Whether a forward ran since the last backward (backward consumes its activations).
        var holdsForward = false

        init(_ config: AutoSAMHeadConfig, batch: Int, height: Int, width: Int) {
            let d = config.embeddingDim, p = height * width, rows = batch * config.classes
            (self.batch, self.height, self.width, self.rows) = (batch, height, width, rows)
            tokensPerRow = 1 + config.masksPerClass
            tokens = FloatBuffer(count: rows * tokensPerRow * d)
            image = FloatBuffer(count: batch * p * d)
            imagePE = FloatBuffer(count: p * d)
            let shape = TwoWayTransformer.Shape(batch: rows, tokens: tokensPerRow, imageTokens: p,
                                                imageRepeats: config.classes, peRepeats: rows)
            transformer = TwoWayTransformer.Activations(config: config.decoder.transformer, shape: shape)
            rowChannels = FloatBuffer(count: p * d)
            let upscalingShape = MaskDecoder.Upscaling.Shape(batch: 1, channels: d, height: height, width: width)
            let shared = MaskDecoder.Upscaling.Activations(shape: upscalingShape)
            // Also the transformer backward's (R, P, D) scratch once the upscaling's backward is done.
            savedU1 = FloatBuffer(count: max(rows * upscalingShape.middleCount, rows * p * d))
            upscaling = (0..<rows).map { [savedU1] r in
                .init(shape: upscalingShape, u1: savedU1.pointer + r * upscalingShape.middleCount,
                      sharingScratchOf: shared)
            }
            rowUpscaled = FloatBuffer(count: upscalingShape.outputCount)
            gradientKeys = FloatBuffer(count: rows * p * d)
            hypernetworks = (0..<config.masksPerClass).map { _ in
                TokenMLP(config.decoder.hypernetworkShape(rows: rows))
            }
            iouHead = TokenMLP(config.decoder.iouHeadShape(rows: rows))
            gradientHyper = FloatBuffer(count: rows * config.upscaledChannels)
            gradientRow = FloatBuffer(count: p * d)
            gradientQueries = FloatBuffer(count: rows * tokensPerRow * d)
            gradientTokens = FloatBuffer(count: rows * tokensPerRow * d)
        }

        /// Every buffer, for the memory report.
        var all: [FloatBuffer] {
            [tokens, image, imagePE, rowChannels, savedU1, rowUpscaled, gradientKeys, gradientHyper, gradientRow,
             gradientQueries, gradientTokens]
                + (hypernetworks + [iouHead]).flatMap { [$0.input, $0.hidden, $0.output] }
        }

        /// Zeroes the gradient accumulators before a backward pass.
        func zeroGradients() {
            for buffer in [gradientHyper, gradientQueries, gradientTokens] {
                buffer.pointer.update(repeating: 0, count: buffer.count)
            }
        }

        var transformerInputs: TwoWayTransformer.Inputs {
            .init(tokens: tokens.pointer, image: image.pointer, imagePE: imagePE.pointer)
        }

        var dim: Int { transformer.config.embeddingDim }

        /// imagePE <- the dense encoding of the h x w grid for `gaussian` (2, D/2), unless cached.
        func updatePositionalEncoding(gaussian matrix: Tensor) {
            guard matrix.data != gaussian else { return }
            let dense = PositionEmbeddingRandom(gaussian: matrix).dense(height: height, width: width)   // (D, h, w)
            dense.withPointer {
                TwoWayTransformer.channelsToTokens(y: imagePE.pointer, x: $0, batch: 1, channels: dim,
                                                   pixels: height * width)
            }
            gaussian = matrix.data
        }

        /// mlp.output <- MLP(hs[:, token]) with its input gathered from the transformer's tokens.
        func run(_ mlp: TokenMLP, token: Int, weights: [WeightAndBias]) {
            let d = dim, hs = transformer.queries
            for r in 0..<rows {
                (mlp.input.pointer + r * d).update(from: hs + (r * tokensPerRow + token) * d, count: d)
            }
            MLPBlock.forward(y: mlp.output.pointer, hidden: mlp.hidden.pointer, x: mlp.input.pointer, weights: weights,
                             shape: mlp.shape)
        }

        /// Backward of `run`: parameter gradients, and dQueries[:, token] (R, N, D) += dInput.
        func backward(_ mlp: TokenMLP, token: Int, dQueries: UnsafeMutablePointer<Float>, dOutput: UnsafePointer<Float>,
                      weights: [WeightAndBias], gradients: [WeightAndBias]) {
            let d = dim, dInput = FloatBuffer(count: rows * d)
            MLPBlock.backward(dx: dInput.pointer, gradients: gradients, dy: dOutput, x: mlp.input.pointer,
                              hidden: mlp.hidden.pointer, weights: weights, shape: mlp.shape)
            for r in 0..<rows {
                let target = dQueries + (r * tokensPerRow + token) * d, source = dInput.pointer + r * d
                for i in 0..<d { target[i] += source[i] }
            }
        }
    }

    /// (B, h, w) of the last forward; empty before the first.
    public var geometry: [Int] { buffers.map { [$0.batch, $0.height, $0.width] } ?? [] }
    private(set) var buffers: Buffers?

    /// Whether forward also keeps a copy of the upscaled embedding (`upscaledEmbedding`, for tests
    /// and inspection: it costs R C2 16 P floats).
    public var keepsUpscaledEmbedding = false

    public init() {}

    /// The buffers for (B, h, w), kept when the geometry is unchanged.
    func prepare(_ config: AutoSAMHeadConfig, batch: Int, height: Int, width: Int) -> Buffers {
        if let b = buffers, (b.batch, b.height, b.width) == (batch, height, width),
           b.rows == batch * config.classes, b.dim == config.embeddingDim { return b }
        buffers = nil   // free the old geometry first
        let fresh = Buffers(config, batch: batch, height: height, width: width)
        buffers = fresh
        return fresh
    }
}

extension AutoSAMHeadWorkspace {
    /// The IoU predictions of the last forward (B, K): the IoU head's first output for each
    /// class (the reference's `iou_pred[:, 0:1]` viewed as (B, K), quirk 3). Not part of the loss.
    public var iouPredictions: Tensor {
        let s = sized, t = s.iouHead.shape.outputDim
        return Tensor(shape: [s.batch, s.rows / s.batch], data: (0..<s.rows).map { s.iouHead.output.pointer[$0 * t] })
    }

    /// Every IoU prediction (B K, T).
    public var iouPredictionsAll: Tensor {
        copy(sized.iouHead.output.pointer, [sized.rows, sized.iouHead.shape.outputDim])
    }
    /// The transformer's input tokens (B K, N, D).
    public var tokens: Tensor { copy(sized.tokens.pointer, [sized.rows, sized.tokensPerRow, sized.dim]) }
    /// The transformer's output tokens `hs` (B K, N, D).
    public var transformerQueries: Tensor {
        copy(sized.transformer.queries, [sized.rows, sized.tokensPerRow, sized.dim])
    }
    /// The transformer's output image tokens `src` (B K, P, D).
    public var transformerKeys: Tensor {
        copy(sized.transformer.keys, [sized.rows, sized.height * sized.width, sized.dim])
    }
    /// The dense positional encoding (1, D, h, w).
    public var imagePE: Tensor {
        let s = sized
        var out = Tensor(zeros: [1, s.dim, s.height, s.width])
        out.withMutablePointer {
            TwoWayTransformer.tokensToChannels(y: $0, x: s.imagePE.pointer, batch: 1, channels: s.dim,
                                               pixels: s.height * s.width)
        }
        return out
    }
    /// The upscaled embedding (B K, C2, 4h, 4w) of the last forward run with
    /// `keepsUpscaledEmbedding` (training does not keep it).
    public var upscaledEmbedding: Tensor {
        guard let kept = sized.keptUpscaled else {
            preconditionFailure("set keepsUpscaledEmbedding before the forward pass to keep the upscaled embedding")
        }
        let s = sized, c2 = s.hypernetworks[0].shape.outputDim
        return Tensor(shape: [s.rows, c2, 4 * s.height, 4 * s.width], data: kept)
    }
    /// The hypernetwork outputs `hyper_in` (B K, T, C2).
    public var hyperIn: Tensor {
        let s = sized, t = s.hypernetworks.count, c2 = s.hypernetworks[0].shape.outputDim
        var data = [Float](repeating: 0, count: s.rows * t * c2)
        for r in 0..<s.rows {
            for (i, mlp) in s.hypernetworks.enumerated() {
                for j in 0..<c2 { data[(r * t + i) * c2 + j] = mlp.output.pointer[r * c2 + j] }
            }
        }
        return Tensor(shape: [s.rows, t, c2], data: data)
    }

    /// Floats held by the workspace (4 bytes each): saved activations and gradient buffers.
    public var floatCount: Int {
        guard let s = buffers else { return 0 }
        return s.all.map(\.count).reduce(0, +) + s.transformer.floatCount
            + (s.upscaling.first.map { 2 * $0.shape.middleCount + $0.shape.outputCount } ?? 0)
    }

    private var sized: Buffers {
        guard let s = buffers else { preconditionFailure("no forward has run on this workspace") }
        return s
    }

    private func copy(_ pointer: UnsafePointer<Float>, _ shape: [Int]) -> Tensor {
        Tensor(shape: shape, data: Array(UnsafeBufferPointer(start: pointer, count: shape.reduce(1, *))))
    }
}
