import Tensors

/// 2D convolution on NCHW, PyTorch `nn.Conv2d` (groups 1, dilation 1, zero padding):
/// `y[b, o, oy, ox] = bias[o] + sum_{i, ki, kj} w[o, i, ki, kj] * x[b, i, oy*sh - ph + ki, ox*sw - pw + kj]`.
///
/// Computed per image as one GEMM `y_b (O, L) = w (O, I*kh*kw) @ cols (I*kh*kw, L)` over im2col
/// columns, built in bands of output rows so the column buffer stays small; a 1x1 stride-1
/// unpadded convolution is a plain GEMM on the image itself. Used by SAM's patch embedding
/// (16x16 stride 16), its neck (1x1, 3x3 pad 1) and the CNN / linear heads.
///
/// Shapes: B batch, I input channels, O output channels, H x W input grid, kh x kw kernel,
/// Ho x Wo output grid, L = Ho * Wo. x (B, I, H, W), w (O, I, kh, kw), bias (O), y (B, O, Ho, Wo).
public enum Conv2d {
    /// Geometry of one convolution.
    public struct Shape: Equatable, Sendable {
        public var batch, inChannels, outChannels, height, width: Int
        public var kernelHeight, kernelWidth, strideHeight, strideWidth, padHeight, padWidth: Int

        public init(batch: Int, inChannels: Int, outChannels: Int, height: Int, width: Int,
                    kernelHeight: Int, kernelWidth: Int, strideHeight: Int = 1, strideWidth: Int = 1,
                    padHeight: Int = 0, padWidth: Int = 0) {
            precondition(kernelHeight > 0 && kernelWidth > 0 && strideHeight > 0 && strideWidth > 0
                         && padHeight >= 0 && padWidth >= 0, "bad convolution geometry")
            (self.batch, self.inChannels, self.outChannels, self.height, self.width) =
                (batch, inChannels, outChannels, height, width)
            (self.kernelHeight, self.kernelWidth, self.strideHeight, self.strideWidth) =
                (kernelHeight, kernelWidth, strideHeight, strideWidth)
            (self.padHeight, self.padWidth) = (padHeight, padWidth)
            precondition(outHeight > 0 && outWidth > 0, "convolution \(self) has an empty output")
        }

        /// Square kernel, stride and padding.
        public init(batch: Int, inChannels: Int, outChannels: Int, height: Int, width: Int,
                    kernel: Int, stride: Int = 1, padding: Int = 0) {
            self.init(batch: batch, inChannels: inChannels, outChannels: outChannels, height: height, width: width,
                      kernelHeight: kernel, kernelWidth: kernel, strideHeight: stride, strideWidth: stride,
                      padHeight: padding, padWidth: padding)
        }

        public var outHeight: Int { (height + 2 * padHeight - kernelHeight) / strideHeight + 1 }
        public var outWidth: Int { (width + 2 * padWidth - kernelWidth) / strideWidth + 1 }
        /// Rows of the im2col matrix: I * kh * kw.
        public var patchSize: Int { inChannels * kernelHeight * kernelWidth }
        /// 1x1, stride 1, no padding: the image itself is the column matrix.
        public var isPointwise: Bool {
            kernelHeight == 1 && kernelWidth == 1 && strideHeight == 1 && strideWidth == 1
                && padHeight == 0 && padWidth == 0
        }
        /// Elements of x, y and w.
        public var inputCount: Int { batch * inChannels * height * width }
        public var outputCount: Int { batch * outChannels * outHeight * outWidth }
        public var weightCount: Int { outChannels * patchSize }
    }

    /// Default bound (elements, 16 MB) on the im2col band buffer.
    public static let defaultColumnBudget = 1 << 22

    /// Whether 3x3 stride-1 pad-1 convolutions large enough to pay run as Winograd
    /// (`Conv2dWinograd.applies`); false keeps every convolution on im2col.
    public nonisolated(unsafe) static var useWinograd = true
    /// The Winograd tile when `useWinograd`; nil (the default) picks it per shape
    /// (`Conv2dWinograd.transform(for:)`). F(2x2, 3x3) rounds about like im2col; F(4x4, 3x3) saves
    /// another 1.8x multiplies at about 4x its mean rounding error (WinogradTests).
    public nonisolated(unsafe) static var winogradTransform: WinogradTransform?

    /// y (B, O, Ho, Wo) <- x (B, I, H, W), weight (O, I, kh, kw), bias (O) or nil.
    /// `columnBudget` bounds the im2col buffer (elements); a band holds at least one output row.
    public static func forward(
        y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>,
        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, shape s: Shape,
        columnBudget: Int = defaultColumnBudget
    ) {
        if useWinograd && Conv2dWinograd.applies(to: s) {
            return Conv2dWinograd.forward(y: y, x: x, weight: weight, bias: bias, shape: s,
                                          transform: winogradTransform ?? Conv2dWinograd.transform(for: s))
        }
        let l = s.outHeight * s.outWidth, inImage = s.inChannels * s.height * s.width
        let bands = outputBands(s, budget: columnBudget)
        let columnCount = s.isPointwise ? 0 : s.patchSize * bands.rows * s.outWidth
        let cols = UnsafeMutablePointer<Float>.allocate(capacity: columnCount)
        defer { cols.deallocate() }
        for n in 0..<s.batch {
            let xb = x + n * inImage, yb = y + n * s.outChannels * l
            if let bias {
                for o in 0..<s.outChannels { (yb + o * l).update(repeating: bias[o], count: l) }
            }
            let beta: Float = bias == nil ? 0 : 1
            if s.isPointwise {
                Gemm.sgemm(m: s.outChannels, n: l, k: s.inChannels, a: weight, lda: s.inChannels,
                           b: xb, ldb: l, beta: beta, c: yb, ldc: l)
                continue
            }
            for band in bands.ranges {
                let bandL = band.count * s.outWidth
                Im2Col.im2col(cols: cols, image: xb, shape: s, outRows: band)
                Gemm.sgemm(m: s.outChannels, n: bandL, k: s.patchSize, a: weight, lda: s.patchSize,
                           b: cols, ldb: bandL, beta: beta, c: yb + band.lowerBound * s.outWidth, ldc: l)
            }
        }
    }

    /// Accumulates `dx += conv^T(dy)` (col2im of `w^T @ dy`), `dWeight += dy @ cols^T`,
    /// `dBias += sum_{b, oy, ox} dy` (each skipped when nil). dy (B, O, Ho, Wo), x (B, I, H, W),
    /// weight (O, I, kh, kw). The columns are rebuilt from x, nothing else is saved by forward.
    public static func backward(
        dx: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>?, dBias: UnsafeMutablePointer<Float>?,
        dy: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>, shape s: Shape,
        columnBudget: Int = defaultColumnBudget
    ) {
        let l = s.outHeight * s.outWidth, inImage = s.inChannels * s.height * s.width
        if useWinograd && Conv2dWinograd.applies(to: s) {
            if let dBias {
                for n in 0..<s.batch { addRowSums(dBias, dy + n * s.outChannels * l, rows: s.outChannels, cols: l) }
            }
            return Conv2dWinograd.backward(dx: dx, dWeight: dWeight, dy: dy, x: x, weight: weight, shape: s,
                                           transform: winogradTransform ?? Conv2dWinograd.transform(for: s))
        }
        let bands = outputBands(s, budget: columnBudget)
        let columnCount = s.isPointwise ? 0 : s.patchSize * bands.rows * s.outWidth
        let cols = UnsafeMutablePointer<Float>.allocate(capacity: columnCount)
        defer { cols.deallocate() }
        for n in 0..<s.batch {
            let xb = x + n * inImage, dyb = dy + n * s.outChannels * l
            if let dBias { addRowSums(dBias, dyb, rows: s.outChannels, cols: l) }
            if s.isPointwise {
                if let dWeight {
                    Gemm.sgemm(transB: true, m: s.outChannels, n: s.inChannels, k: l, a: dyb, lda: l,
                               b: xb, ldb: l, beta: 1, c: dWeight, ldc: s.inChannels)
                }
                if let dx {
                    Gemm.sgemm(transA: true, m: s.inChannels, n: l, k: s.outChannels, a: weight, lda: s.inChannels,
                               b: dyb, ldb: l, beta: 1, c: dx + n * inImage, ldc: l)
                }
                continue
            }
            for band in bands.ranges {
                let bandL = band.count * s.outWidth, dyBand = dyb + band.lowerBound * s.outWidth
                if let dWeight {
                    Im2Col.im2col(cols: cols, image: xb, shape: s, outRows: band)
                    Gemm.sgemm(transB: true, m: s.outChannels, n: s.patchSize, k: bandL, a: dyBand, lda: l,
                               b: cols, ldb: bandL, beta: 1, c: dWeight, ldc: s.patchSize)
                }
                if let dx {
                    Gemm.sgemm(transA: true, m: s.patchSize, n: bandL, k: s.outChannels, a: weight, lda: s.patchSize,
                               b: dyBand, ldb: l, c: cols, ldc: bandL)
                    Im2Col.col2im(dImage: dx + n * inImage, cols: cols, shape: s, outRows: band)
                }
            }
        }
    }

    /// Output rows split into bands whose im2col buffer fits `budget` elements.
    static func outputBands(_ s: Shape, budget: Int) -> (rows: Int, ranges: [Range<Int>]) {
        let rows = min(s.outHeight, max(1, budget / max(1, s.patchSize * s.outWidth)))
        let ranges = stride(from: 0, to: s.outHeight, by: rows).map { $0..<min($0 + rows, s.outHeight) }
        return (rows, ranges)
    }

    /// sums[r] += sum_j m[r, j] for a dense (rows, cols) matrix.
    static func addRowSums(_ sums: UnsafeMutablePointer<Float>, _ m: UnsafePointer<Float>, rows: Int, cols: Int) {
        for r in 0..<rows {
            let row = m + r &* cols
            var acc: Float = 0
            for j in 0..<cols { acc += row[j] }
            sums[r] += acc
        }
    }
}
