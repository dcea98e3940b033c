import Tensors

extension TwoWayTransformer {
    /// y (B, P, C) <- x (B, C, P): an NCHW image as tokens, SAM's `x.flatten(2).permute(0, 2, 1)`.
    /// Its adjoint (for a backward pass) is `tokensToChannels`.
    public static func channelsToTokens(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>,
                                        batch: Int, channels: Int, pixels: Int) {
        RowParallel.run(rows: batch, width: channels * pixels) { images in
            for b in images {
                transpose(y + b * channels * pixels, x + b * channels * pixels, rows: channels, columns: pixels)
            }
        }
    }

    /// y (B, C, P) <- x (B, P, C): tokens back to NCHW, SAM's `src.transpose(1, 2).view(b, c, h, w)`.
    /// Its adjoint is `channelsToTokens`.
    public static func tokensToChannels(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>,
                                        batch: Int, channels: Int, pixels: Int) {
        RowParallel.run(rows: batch, width: channels * pixels) { images in
            for b in images {
                transpose(y + b * channels * pixels, x + b * channels * pixels, rows: pixels, columns: channels)
            }
        }
    }

    /// y (C, R) <- x (R, C)^T in 32 x 32 tiles, so both sides are walked through the cache.
    static func transpose(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, rows: Int, columns: Int) {
        let tile = 32
        for r0 in stride(from: 0, to: rows, by: tile) {
            let r1 = min(r0 &+ tile, rows)
            for c0 in stride(from: 0, to: columns, by: tile) {
                let c1 = min(c0 &+ tile, columns)
                for r in r0..<r1 {
                    let source = x + r &* columns
                    for c in c0..<c1 { y[c &* rows &+ r] = source[c] }
                }
            }
        }
    }
}
