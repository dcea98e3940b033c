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

    /// y[b] (C, R) <- x[b] (R, C)^T for every image b, the bands of 32 source rows of all images
    /// spread over the cores (a single image, as the AutoSAM head's per-row upscaling passes, uses
    /// both cores too). Each element is copied once, so the split does not change the result.
    static func transposeImages(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>,
                                batch: Int, rows: Int, columns: Int) {
        let tile = 32, bands = (rows + tile - 1) / tile, size = rows * columns
        RowParallel.run(rows: batch * bands, width: tile * columns) { range in
            for item in range {
                let b = item / bands, r0 = (item % bands) * tile
                transpose(y + b * size, x + b * size, rows: rows, columns: columns, rowRange: r0..<min(r0 + tile, rows))
            }
        }
    }

    /// y (C, R) <- x (R, C)^T for the source rows `rowRange` (at most 32), in 32 x 32 tiles, so both
    /// sides are walked through the cache.
    static func transpose(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, rows: Int, columns: Int,
                          rowRange: Range<Int>) {
        let tile = 32
        for c0 in stride(from: 0, to: columns, by: tile) {
            let c1 = min(c0 &+ tile, columns)
            for r in rowRange {
                let source = x + r &* columns
                for c in c0..<c1 { y[c &* rows &+ r] = source[c] }
            }
        }
    }
}
