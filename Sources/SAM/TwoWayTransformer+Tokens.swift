import Tensors

extension TwoWayTransformer {
    /// y (B, P, C) <- x (B, C, P): an NCHW image as tokens, SAM's `x.flatten(2).permute(0, 2, 1)`.
    /// Its adjoint (for a backward pass) is `tokensToChannels`.
    public static func channelsToTokens(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>,
                                        batch: Int, channels: Int, pixels: Int) {
        transposeImages(y, x, batch: batch, rows: channels, columns: pixels)
    }

    /// y (B, C, P) <- x (B, P, C): tokens back to NCHW, SAM's `src.transpose(1, 2).view(b, c, h, w)`.
    /// Its adjoint is `channelsToTokens`.
    public static func tokensToChannels(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>,
                                        batch: Int, channels: Int, pixels: Int) {
        transposeImages(y, x, batch: batch, rows: pixels, columns: channels)
    }

    /// y[b] (C, R) <- x[b] (R, C)^T for every image b (`Transpose.matrix`), images spread over the
    /// cores when there are several. Each element is copied once, so the split does not matter.
    static func transposeImages(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>,
                                batch: Int, rows: Int, columns: Int) {
        let size = rows * columns
        RowParallel.run(rows: batch, width: size) { images in
            for b in images { Transpose.matrix(y + b * size, x + b * size, rows: rows, columns: columns) }
        }
    }
}
