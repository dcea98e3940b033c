import Tensors

/// 3x3, stride 1, padding 1 convolution on NCHW by Winograd minimal filtering (`WinogradTransform`,
/// Lavin & Gray 2015): the result of `Conv2d` with 2.25x (F(2x2, 3x3)) or 4x (F(4x4, 3x3)) fewer multiplies.
///
/// The output is cut into m x m tiles over the whole batch. Every tile's alpha x alpha input window is
/// transformed (`V = B^T d B`), every kernel too (`U = G g G^T`); then for each of the alpha² transform
/// positions k one GEMM `M_k (O, T) = U_k (O, I) @ V_k (I, T)` over the tiles T of a band, and every
/// tile is transformed back (`Y = A^T M A`). Bands of tile rows bound the scratch to `budget`.
/// The input gradient is the same convolution of dy with the kernels rotated 180° and the channels
/// swapped; the weight gradient is the adjoint: `dU_k = Z_k @ V_k^T` with `Z = A dY A^T`, `dW = G^T dU G`.
///
/// Shapes: B batch, I input channels, O output channels, H x W grid (input and output), T tiles of a
/// band, alpha² = 16 transform positions (36 for F(4x4)). x (B, I, H, W), w (O, I, 3, 3), bias (O),
/// y (B, O, H, W); scratch U (alpha², O, I) (outside the budget: 64 MB for 1024 x 1024 channels, F(2x2)),
/// V (alpha², I, T), M (alpha², O, T), Z (alpha², O, T).
public enum Conv2dWinograd {
    /// Default bound (elements, 64 MB) on the band scratch (V and M, or V and Z).
    public static let defaultBudget = 1 << 24

    /// Whether `Conv2d` takes this path for `s`: 3x3, stride 1, padding 1, and large enough to pay.
    /// Measured (B = 4, 2 threads): 32 -> 32 channels at 128 x 128 and 1024 -> 1024 at 14 x 14 gain
    /// 1.3-1.6x; 16 -> 64 channels lose 1.4x (GEMMs with k = 16 run far below peak) and 12 x 12 grids
    /// or 32 channels at 64 x 64 break even.
    public static func applies(to s: Conv2d.Shape) -> Bool {
        isWinogradShape(s) && min(s.inChannels, s.outChannels) >= 32 && s.height * s.width >= 14 * 14
    }

    /// The tile `Conv2d` uses for `s` (one that `applies`): F(4x4, 3x3) on planes of at least 28 x 28
    /// with at least 128 of its tiles, F(2x2, 3x3) otherwise. Measured (B = 4, 1 thread, forward + both
    /// gradients): F(4x4) is 1.4x faster for 256-1024 channels at 64 x 64, 1.05-1.2x for 64 channels
    /// at 224 x 224 and 512 at 28 x 28, even for 128 at 112 x 112, but 1.15x slower for 1024 channels
    /// at 14 x 14 (64 tiles: the GEMMs run far below peak and U is 2.25x larger).
    public static func transform(for s: Conv2d.Shape) -> WinogradTransform {
        let tiles = s.batch * ((s.height + 3) / 4) * ((s.width + 3) / 4)
        return s.height * s.width >= 28 * 28 && tiles >= 128 ? .f4 : .f2
    }

    /// y (B, O, H, W) <- x (B, I, H, W), weight (O, I, 3, 3), bias (O) or nil. `shape` must be 3x3,
    /// stride 1, padding 1 (any size).
    public static func forward(
        y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>,
        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, shape s: Conv2d.Shape,
        transform t: WinogradTransform = .f2, budget: Int = defaultBudget
    ) {
        precondition(isWinogradShape(s), "Winograd convolution needs 3x3, stride 1, padding 1, got \(s)")
        let u = UnsafeMutablePointer<Float>.allocate(capacity: t.alpha * t.alpha * s.outChannels * s.inChannels)
        defer { u.deallocate() }
        transformWeights(u: u, weight: weight, outChannels: s.outChannels, inChannels: s.inChannels,
                         flipped: false, transform: t)
        convolve(y: y, x: x, u: u, bias: bias, accumulate: false, batch: s.batch, inChannels: s.inChannels,
                 outChannels: s.outChannels, height: s.height, width: s.width, transform: t, budget: budget)
    }

    /// Accumulates `dx += conv^T(dy)` and `dWeight += dy ⋆ x` (each skipped when nil), as
    /// `Conv2d.backward` without the bias gradient. dy (B, O, H, W), x (B, I, H, W), weight (O, I, 3, 3).
    public static func backward(
        dx: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>?,
        dy: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>, shape s: Conv2d.Shape,
        transform t: WinogradTransform = .f2, budget: Int = defaultBudget
    ) {
        precondition(isWinogradShape(s), "Winograd convolution needs 3x3, stride 1, padding 1, got \(s)")
        let u = UnsafeMutablePointer<Float>.allocate(capacity: t.alpha * t.alpha * s.outChannels * s.inChannels)
        defer { u.deallocate() }
        if let dx {
            transformWeights(u: u, weight: weight, outChannels: s.outChannels, inChannels: s.inChannels,
                             flipped: true, transform: t)
            convolve(y: dx, x: dy, u: u, bias: nil, accumulate: true, batch: s.batch, inChannels: s.outChannels,
                     outChannels: s.inChannels, height: s.height, width: s.width, transform: t, budget: budget)
        }
        if let dWeight {
            weightGradient(dU: u, dy: dy, x: x, shape: s, transform: t, budget: budget)
            addWeightGradient(dWeight: dWeight, dU: u, outChannels: s.outChannels, inChannels: s.inChannels,
                              transform: t)
        }
    }

    static func isWinogradShape(_ s: Conv2d.Shape) -> Bool {
        s.kernelHeight == 3 && s.kernelWidth == 3 && s.strideHeight == 1 && s.strideWidth == 1
            && s.padHeight == 1 && s.padWidth == 1
    }

    /// y (B, O, H, W) (+)= conv(x (B, I, H, W)) + bias with transformed kernels u (alpha², O, I).
    static func convolve(
        y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, u: UnsafePointer<Float>,
        bias: UnsafePointer<Float>?, accumulate: Bool, batch: Int, inChannels i: Int, outChannels o: Int,
        height: Int, width: Int, transform t: WinogradTransform, budget: Int
    ) {
        let tiling = WinogradTiling(t, batch: batch, height: height, width: width), positions = t.alpha * t.alpha
        let bands = tileBands(tiling, channels: i + o, budget: budget)
        let v = UnsafeMutablePointer<Float>.allocate(capacity: positions * (i + o) * bands.tiles)
        defer { v.deallocate() }
        let mm = v + positions * i * bands.tiles
        t.bT.withUnsafeBufferPointer { bT in
            t.aT.withUnsafeBufferPointer { aT in
                for rows in bands.ranges {
                    let n = rows.count * tiling.tilesX
                    transformInput(v: v, ldv: n, x: x, channels: i, tiling: tiling, rows: rows, bT: bT.baseAddress!)
                    slicedGemms(count: positions, m: o, n: n, k: i, a: u, lda: i, strideA: o * i,
                                b: v, ldb: n, strideB: i * n, beta: 0, c: mm, ldc: n, strideC: o * n)
                    transformOutput(y: y, mm: mm, ldm: n, channels: o, bias: bias, accumulate: accumulate,
                                    tiling: tiling, rows: rows, aT: aT.baseAddress!)
                }
            }
        }
    }

    /// dU (alpha², O, I) <- sum over tiles of `Z_k @ V_k^T`: the gradient of the transformed kernels.
    static func weightGradient(
        dU: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, x: UnsafePointer<Float>, shape s: Conv2d.Shape,
        transform t: WinogradTransform, budget: Int
    ) {
        let (i, o) = (s.inChannels, s.outChannels), positions = t.alpha * t.alpha
        let tiling = WinogradTiling(t, batch: s.batch, height: s.height, width: s.width)
        let bands = tileBands(tiling, channels: i + o, budget: budget)
        let v = UnsafeMutablePointer<Float>.allocate(capacity: positions * (i + o) * bands.tiles)
        defer { v.deallocate() }
        let z = v + positions * i * bands.tiles
        t.bT.withUnsafeBufferPointer { bT in
            t.aT.withUnsafeBufferPointer { aT in
                for (index, rows) in bands.ranges.enumerated() {
                    let n = rows.count * tiling.tilesX
                    transformInput(v: v, ldv: n, x: x, channels: i, tiling: tiling, rows: rows, bT: bT.baseAddress!)
                    transformOutputGradient(z: z, ldz: n, dy: dy, channels: o, tiling: tiling, rows: rows,
                                            aT: aT.baseAddress!)
                    slicedGemms(count: positions, transB: true, m: o, n: i, k: n, a: z, lda: n, strideA: o * n,
                                b: v, ldb: n, strideB: i * n, beta: index == 0 ? 0 : 1,
                                c: dU, ldc: i, strideC: o * i)
                }
            }
        }
    }

    /// Longest k of one OpenBLAS call (`slicedGemms`); at most GEMM_Q of the x86-64 OpenBLAS kernels.
    static let kSlice = 256

    /// `count` GEMMs `C_p = op(A_p) @ op(B_p) + beta C_p` (A not transposed) as `Gemm.batched`, with k fed
    /// in slices of at most `kSlice` (beta 1 after the first). The positions p are split over the cores,
    /// each GEMM on one thread (`RowParallel.itemsWithSingleThreadedBLAS`): a cache-sized band's GEMMs
    /// are too small for OpenBLAS to split well, and every one of them computes with one BLAS
    /// thread whatever the thread count. OpenBLAS cuts a k between GEMM_Q and 2 GEMM_Q at one point
    /// with one thread (driver/level3/level3.c) and at another with several (level3_thread.c); the
    /// slices keep that cut out of the sums in any case.
    static func slicedGemms(
        count: Int, transB: Bool = false, m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int, strideA: Int, b: UnsafePointer<Float>, ldb: Int, strideB: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, strideC: Int
    ) {
        RowParallel.itemsWithSingleThreadedBLAS(count) { positions in
            for p in positions {
                for start in stride(from: 0, to: k, by: kSlice) {
                    Gemm.sgemm(transB: transB, m: m, n: n, k: min(kSlice, k - start),
                               a: a + p * strideA + start, lda: lda,
                               b: b + p * strideB + (transB ? start : start * ldb), ldb: ldb,
                               beta: start == 0 ? beta : 1, c: c + p * strideC, ldc: ldc)
                }
            }
        }
    }

    /// Band size the transforms aim at (elements of V and M / Z, 4 MB): the transform writes a band that
    /// the GEMMs read back while it is still in cache (32 MB L3 and 2 MB L2 per core on Zen 4).
    static let bandCacheElements = 1 << 20

    /// Tile rows split into bands of about `bandCacheElements` (alpha², channels, T) scratch, but at least
    /// max(256, 2 * channels) tiles and one tile row, and at most `budget` elements. `tiles` is the largest
    /// band's T. Each GEMM call repacks U (O, I), which pays only for T large against the channels.
    /// Measured (B = 4, 1 thread, F(2x2)), against bands as large as the 64 MB budget: 64 -> 64 channels
    /// at 224 x 224 1.3x faster, 128 -> 128 at 112 x 112 1.1x; 256 -> 256 at 56 x 56 and up unchanged
    /// (they lose 5 % with T = 256).
    static func tileBands(_ t: WinogradTiling, channels: Int, budget: Int) -> (tiles: Int, ranges: [Range<Int>]) {
        let perTile = t.alpha * t.alpha * channels, perRow = perTile * t.tilesX
        let target = max(256, 2 * channels, bandCacheElements / perTile)
        let rows = min(t.tileRows, max(1, min(budget / perRow, (target + t.tilesX - 1) / t.tilesX)))
        let ranges = stride(from: 0, to: t.tileRows, by: rows).map { $0..<min($0 + rows, t.tileRows) }
        return (rows * t.tilesX, ranges)
    }
}
