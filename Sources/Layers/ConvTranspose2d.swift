import Tensors

/// Transposed convolution with kernel 2 and stride 2 on NCHW, PyTorch
/// `nn.ConvTranspose2d(I, O, kernel_size=2, stride=2)` (no padding, groups 1):
/// `y[b, o, 2h + di, 2w + dj] = bias[o] + sum_i x[b, i, h, w] * w[i, o, di, dj]`.
/// Every input pixel writes its own 2x2 output block, so per image this is one GEMM
/// `T (O*2*2, H*W) = w^T @ x_b` followed by a scatter of T into the doubled grid.
/// Used by SAM's mask-decoder output upscaling and the CNN / linear heads.
///
/// Shapes: B batch, I input channels, O output channels, H x W input grid.
/// x (B, I, H, W), w (I, O, 2, 2) (PyTorch layout), bias (O), y (B, O, 2H, 2W), T (O*4, H*W) scratch.
public enum ConvTranspose2d {
    /// y (B, O, 2H, 2W) <- x (B, I, H, W), weight (I, O, 2, 2), bias (O) or nil.
    public static func forward(
        y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>,
        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        batch b: Int, inChannels i: Int, outChannels o: Int, height h: Int, width w: Int
    ) {
        let hw = h * w, t = UnsafeMutablePointer<Float>.allocate(capacity: 4 * o * hw)
        defer { t.deallocate() }
        for n in 0..<b {
            Gemm.sgemm(transA: true, m: 4 * o, n: hw, k: i, a: weight, lda: 4 * o,
                       b: x + n * i * hw, ldb: hw, c: t, ldc: hw)
            let yb = y + n * o * 4 * hw
            forEachOutputRow(outChannels: o, height: h, width: w) { channel, tRow, yRow in
                let t0 = t + tRow, t1 = t + (tRow &+ hw), out = yb + yRow
                let bv = bias?[channel] ?? 0
                for col in 0..<w {
                    out[2 &* col] = t0[col] + bv
                    out[2 &* col &+ 1] = t1[col] + bv
                }
            }
        }
    }

    /// Accumulates `dx += w @ dT`, `dWeight += x @ dT^T` and `dBias += sum dy` per channel, where
    /// `dT (O*4, H*W)` is dy (B, O, 2H, 2W) gathered back into the GEMM layout (each skipped when nil).
    public static func backward(
        dx: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>?, dBias: UnsafeMutablePointer<Float>?,
        dy: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        batch b: Int, inChannels i: Int, outChannels o: Int, height h: Int, width w: Int
    ) {
        let hw = h * w, dt = UnsafeMutablePointer<Float>.allocate(capacity: 4 * o * hw)
        defer { dt.deallocate() }
        for n in 0..<b {
            let dyb = dy + n * o * 4 * hw
            if let dBias {
                RowParallel.run(rows: o, width: 4 * hw) { channels in
                    Conv2d.addRowSums(dBias + channels.lowerBound, dyb + channels.lowerBound * 4 * hw,
                                      rows: channels.count, cols: 4 * hw)
                }
            }
            guard dx != nil || dWeight != nil else { continue }
            forEachOutputRow(outChannels: o, height: h, width: w) { _, tRow, yRow in
                let t0 = dt + tRow, t1 = dt + (tRow &+ hw), grad = dyb + yRow
                for col in 0..<w {
                    t0[col] = grad[2 &* col]
                    t1[col] = grad[2 &* col &+ 1]
                }
            }
            if let dWeight {
                Gemm.sgemm(transB: true, m: i, n: 4 * o, k: hw, a: x + n * i * hw, lda: hw,
                           b: dt, ldb: hw, beta: 1, c: dWeight, ldc: 4 * o)
            }
            if let dx {
                Gemm.sgemm(m: i, n: hw, k: 4 * o, a: weight, lda: 4 * o, b: dt, ldb: hw,
                           beta: 1, c: dx + n * i * hw, ldc: hw)
            }
        }
    }

    /// Visits each output row (o, 2h + di): `tRow` is the offset of T[(o, di, dj = 0), h * W] (the
    /// dj = 1 row follows H*W later), `yRow` the offset of y[o, 2h + di, 0] within one image.
    /// Channels are visited in parallel (`RowParallel`); each row is written by one call.
    @inline(__always)
    private static func forEachOutputRow(
        outChannels o: Int, height h: Int, width w: Int,
        _ body: (_ channel: Int, _ tRow: Int, _ yRow: Int) -> Void
    ) {
        RowParallel.run(rows: o, width: 4 &* h &* w) { channels in
            forEachOutputRow(channels: channels, height: h, width: w, body)
        }
    }

    @inline(__always)
    private static func forEachOutputRow(
        channels: Range<Int>, height h: Int, width w: Int,
        _ body: (_ channel: Int, _ tRow: Int, _ yRow: Int) -> Void
    ) {
        let hw = h &* w
        for channel in channels {
            for di in 0..<2 {
                for row in 0..<h {
                    let tRow = (channel &* 4 &+ di &* 2) &* hw &+ row &* w
                    let yRow = (channel &* 2 &* h &+ 2 &* row &+ di) &* 2 &* w
                    body(channel, tRow, yRow)
                }
            }
        }
    }
}
