/// Column matrix of a convolution and its adjoint, for one image and a band of output rows.
///
/// `cols[(i * kh + ki) * kw + kj, t * Wo + ox] = x[i, oy*sh - ph + ki, ox*sw - pw + kj]` (zero outside
/// the image) for the output rows `oy = band.lowerBound + t`; `col2im` scatters the same entries back
/// with `+=`. Shapes (see `Conv2d`): image (I, H, W), cols (I*kh*kw, band.count * Wo).
public enum Im2Col {
    /// cols (I*kh*kw, rows * Wo) <- image (I, H, W) for output rows `outRows`.
    public static func im2col(
        cols: UnsafeMutablePointer<Float>, image: UnsafePointer<Float>,
        shape s: Conv2d.Shape, outRows: Range<Int>
    ) {
        forEachColumnRow(shape: s, outRows: outRows) { colOffset, imageRow, valid in
            let colRow = cols + colOffset
            guard let imageRow else { colRow.update(repeating: 0, count: s.outWidth); return }
            let off = valid.offset, sw = s.strideWidth
            colRow.update(repeating: 0, count: valid.range.lowerBound)
            if sw == 1 {
                (colRow + valid.range.lowerBound).update(from: image + (imageRow &+ valid.range.lowerBound &+ off),
                                                         count: valid.range.count)
            } else {
                for ox in valid.range { colRow[ox] = image[imageRow &+ ox &* sw &+ off] }
            }
            (colRow + valid.range.upperBound).update(repeating: 0, count: s.outWidth - valid.range.upperBound)
        }
    }

    /// dImage (I, H, W) += col2im(cols): every column entry is added to the pixel it was read from;
    /// entries that came from the zero padding are dropped.
    public static func col2im(
        dImage: UnsafeMutablePointer<Float>, cols: UnsafePointer<Float>,
        shape s: Conv2d.Shape, outRows: Range<Int>
    ) {
        forEachColumnRow(shape: s, outRows: outRows) { colOffset, imageRow, valid in
            guard let imageRow else { return }
            let colRow = cols + colOffset
            let off = valid.offset, sw = s.strideWidth
            for ox in valid.range { dImage[imageRow &+ ox &* sw &+ off] += colRow[ox] }
        }
    }

    /// Visits every (column-matrix row, output row) pair: `colOffset` is the element offset of its Wo entries,
    /// `imageRow` is the element offset of the input row it reads (nil when that row is padding),
    /// and output column `ox` in `valid.range` reads input column `ox * sw + valid.offset`.
    @inline(__always)
    private static func forEachColumnRow(
        shape s: Conv2d.Shape, outRows: Range<Int>,
        _ body: (_ colOffset: Int, _ imageRow: Int?, _ valid: (range: Range<Int>, offset: Int)) -> Void
    ) {
        let wo = s.outWidth, bandL = outRows.count * wo
        var r = 0
        for i in 0..<s.inChannels {
            for ki in 0..<s.kernelHeight {
                for kj in 0..<s.kernelWidth {
                    let offset = kj - s.padWidth
                    let valid = validOutputs(offset: offset, stride: s.strideWidth, inSize: s.width, outSize: wo)
                    for (t, oy) in outRows.enumerated() {
                        let iy = oy &* s.strideHeight &- s.padHeight &+ ki
                        let imageRow = iy >= 0 && iy < s.height ? (i &* s.height &+ iy) &* s.width : nil
                        body(r &* bandL &+ t &* wo, imageRow, (valid, offset))
                    }
                    r += 1
                }
            }
        }
    }

    /// Outputs `ox` with `0 <= ox * stride + offset < inSize`, clipped to `0..<outSize`.
    static func validOutputs(offset: Int, stride: Int, inSize: Int, outSize: Int) -> Range<Int> {
        let lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride
        let last = inSize - 1 - offset
        let hi = last < 0 ? 0 : min(outSize, last / stride + 1)
        return min(lo, hi)..<hi
    }
}
