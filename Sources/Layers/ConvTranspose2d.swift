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
    /// Default bound (elements, 512 KB) on one band's T (O*4, band pixels): a band's GEMM output is
    /// scattered while it is still in the core's cache.
    public static let defaultBandBudget = 1 << 17

    /// y (B, O, 2H, 2W) <- x (B, I, H, W), weight (I, O, 2, 2), bias (O) or nil. Bands of input
    /// rows (`bandBudget` elements of T each) run on the cores at once, one BLAS thread each.
    /// `epilogue(offset, count)`, when given, is called on the writing thread for every contiguous
    /// run of y a band has just written (one per band and output channel; offsets from `y`), so an
    /// element-wise map that follows the convolution runs while its input is in cache.
    public static func forward(
        y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>,
        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        batch b: Int, inChannels i: Int, outChannels o: Int, height h: Int, width w: Int,
        bandBudget: Int = defaultBandBudget, epilogue: ((_ offset: Int, _ count: Int) -> Void)? = nil
    ) {
        let bands = Self.bands(batch: b, tRows: 4 * o, height: h, width: w, budget: bandBudget), hw = h * w
        RowParallel.itemsWithSingleThreadedBLAS(bands.count) { items in
            let t = UnsafeMutablePointer<Float>.allocate(capacity: 4 * o * bands.chunk * w)
            defer { t.deallocate() }
            for item in items {
                let (n, rows) = bands[item], px = rows.count * w
                Gemm.sgemm(transA: true, m: 4 * o, n: px, k: i, a: weight, lda: 4 * o,
                           b: x + n * i * hw + rows.lowerBound * w, ldb: hw, c: t, ldc: px)
                let yb = y + n * o * 4 * hw
                forEachOutputRow(outChannels: o, rows: rows, height: h, width: w) { channel, tRow, yRow in
                    let t0 = t + tRow, t1 = t + (tRow &+ px), out = yb + yRow
                    let bv = bias?[channel] ?? 0
                    for col in 0..<w {
                        out[2 &* col] = t0[col] + bv
                        out[2 &* col &+ 1] = t1[col] + bv
                    }
                }
                if let epilogue {
                    for channel in 0..<o { epilogue((n * o + channel) * 4 * hw + rows.lowerBound * 4 * w, px * 4) }
                }
            }
        }
    }

    /// Accumulates `dx += w @ dT`, `dWeight += x @ dT^T` and `dBias += sum dy` per channel, where
    /// `dT (O*4, H*W)` is dy (B, O, 2H, 2W) gathered back into the GEMM layout (each skipped when nil).
    /// Bands run as in `forward`; groups of bands (`ItemGroups`) sum dWeight into their own partial,
    /// added in group order, so the result does not depend on the thread count.
    public static func backward(
        dx: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>?, dBias: UnsafeMutablePointer<Float>?,
        dy: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        batch b: Int, inChannels i: Int, outChannels o: Int, height h: Int, width w: Int,
        bandBudget: Int = defaultBandBudget
    ) {
        let hw = h * w
        if let dBias {
            for n in 0..<b {
                let dyb = dy + n * o * 4 * hw
                RowParallel.run(rows: o, width: 4 * hw) { channels in
                    Conv2d.addRowSums(dBias + channels.lowerBound, dyb + channels.lowerBound * 4 * hw,
                                      rows: channels.count, cols: 4 * hw)
                }
            }
        }
        guard dx != nil || dWeight != nil else { return }
        let bands = Self.bands(batch: b, tRows: 4 * o, height: h, width: w, budget: bandBudget)
        let weightCount = i * 4 * o
        let groups = ItemGroups(items: bands.count, partialFloats: dWeight == nil ? 0 : weightCount)
        let partials = dWeight == nil ? nil : PartialSums(count: weightCount, groups.count)
        RowParallel.itemsWithSingleThreadedBLAS(groups.count) { groupRange in
            let dt = UnsafeMutablePointer<Float>.allocate(capacity: 4 * o * bands.chunk * w)
            defer { dt.deallocate() }
            for group in groupRange {
                for item in groups[group] {
                    let (n, rows) = bands[item], px = rows.count * w, offset = n * i * hw + rows.lowerBound * w
                    let dyb = dy + n * o * 4 * hw
                    forEachOutputRow(outChannels: o, rows: rows, height: h, width: w) { _, tRow, yRow in
                        let t0 = dt + tRow, t1 = dt + (tRow &+ px), grad = dyb + yRow
                        for col in 0..<w {
                            t0[col] = grad[2 &* col]
                            t1[col] = grad[2 &* col &+ 1]
                        }
                    }
                    if let partials {
                        Gemm.sgemm(transB: true, m: i, n: 4 * o, k: px, a: x + offset, lda: hw, b: dt, ldb: px,
                                   beta: item == groups[group].lowerBound ? 0 : 1, c: partials[group], ldc: 4 * o)
                    }
                    if let dx {
                        Gemm.sgemm(m: i, n: px, k: 4 * o, a: weight, lda: 4 * o, b: dt, ldb: px,
                                   beta: 1, c: dx + offset, ldc: hw)
                    }
                }
            }
        }
        if let dWeight, let partials { partials.add(into: dWeight) }
    }

    /// Bands of whole input rows, per image, whose T (tRows, rows * W) fits `budget` elements.
    static func bands(batch: Int, tRows: Int, height: Int, width: Int, budget: Int) -> ImageChunks {
        ImageChunks(batch: batch, length: height, chunk: max(1, budget / max(1, tRows * width)))
    }

    /// Visits each output row (o, 2h + di) of the input rows `rows`: `tRow` is the offset of
    /// T[(o, di, dj = 0), h - rows.lowerBound] in a band's T (O*4, rows.count * W) (the dj = 1 row
    /// follows one band later), `yRow` the offset of y[o, 2h + di, 0] within one image.
    @inline(__always)
    private static func forEachOutputRow(
        outChannels o: Int, rows: Range<Int>, height h: Int, width w: Int,
        _ body: (_ channel: Int, _ tRow: Int, _ yRow: Int) -> Void
    ) {
        let px = rows.count &* w
        for channel in 0..<o {
            for di in 0..<2 {
                for row in rows {
                    let tRow = (channel &* 4 &+ di &* 2) &* px &+ (row &- rows.lowerBound) &* w
                    let yRow = (channel &* 2 &* h &+ 2 &* row &+ di) &* 2 &* w
                    body(channel, tRow, yRow)
                }
            }
        }
    }
}
