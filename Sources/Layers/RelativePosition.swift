import Tensors

/// SAM's decomposed relative position terms (from MViTv2) for one attention head:
/// `relH[b, (qh, qw), kh] = sum_c q[b, qh, qw, c] * tableH[qh - kh + H - 1, c]`,
/// `relW[b, (qh, qw), kw] = sum_c q[b, qh, qw, c] * tableW[qw - kw + W - 1, c]`,
/// which the attention adds to its logits: `logits[b, (qh, qw), (kh, kw)] += relH[.., kh] + relW[.., kw]`.
/// q is the UNSCALED query (SAM scales q only for the q @ k^T term).
///
/// ref: segment_anything/modeling/image_encoder.py @ dca509f, `get_rel_pos` (lines 291-321) and
/// `add_decomposed_rel_pos` (lines 324-360). Queries and keys come from the same H x W grid and the
/// tables have exactly 2H - 1 and 2W - 1 rows (SAM builds them for the window, or for the whole
/// grid in global blocks), so `get_rel_pos` neither interpolates the tables nor rescales coordinates
/// and `Rh[i, j] = tableH[i - j + H - 1]`; this port relies on that (callers check table shapes).
///
/// Computed as one GEMM per table, `T = q @ table^T` (rows, 2S - 1), followed by a gather of the
/// band `T[r, i - j + S - 1]`. Shapes: B grids (windows or images), H x W grid, D head dim,
/// rows = B * H * W; q (rows, D) with row stride ldq; tableH (2H - 1, D), tableW (2W - 1, D);
/// relH (rows, H), relW (rows, W).
public enum RelativePosition {
    /// relH (rows, H), relW (rows, W) <- q (rows, D; row stride ldq), tableH (2H-1, D), tableW (2W-1, D).
    public static func forward(
        relH: UnsafeMutablePointer<Float>, relW: UnsafeMutablePointer<Float>,
        q: UnsafePointer<Float>, ldq: Int, tableH: UnsafePointer<Float>, tableW: UnsafePointer<Float>,
        batch b: Int, height h: Int, width w: Int, headDim d: Int
    ) {
        let rows = b * h * w
        let t = UnsafeMutablePointer<Float>.allocate(capacity: rows * (2 * max(h, w) - 1))
        defer { t.deallocate() }
        for axis in Axis.both(height: h, width: w) {
            let length = 2 * axis.size - 1
            Gemm.sgemm(transB: true, m: rows, n: length, k: d, a: q, lda: ldq,
                       b: axis.isHeight ? tableH : tableW, ldb: d, c: t, ldc: length)
            let rel = axis.isHeight ? relH : relW
            for r in 0..<rows {
                let band: Int = r &* length &+ axis.position(ofRow: r) &+ axis.size &- 1
                let src = t + band, dst = rel + r &* axis.size
                for j in 0..<axis.size { dst[j] = src[-j] }
            }
        }
    }

    /// Accumulates `dq += dT @ table` and `dTable += dT^T @ q` for both tables (each skipped when
    /// nil), where dT (rows, 2S-1) scatters dRel back onto the band it was gathered from.
    /// dq uses the row stride ldq of q. dRelH (rows, H), dRelW (rows, W).
    public static func backward(
        dq: UnsafeMutablePointer<Float>?, dTableH: UnsafeMutablePointer<Float>?, dTableW: UnsafeMutablePointer<Float>?,
        dRelH: UnsafePointer<Float>, dRelW: UnsafePointer<Float>,
        q: UnsafePointer<Float>, ldq: Int, tableH: UnsafePointer<Float>, tableW: UnsafePointer<Float>,
        batch b: Int, height h: Int, width w: Int, headDim d: Int
    ) {
        let rows = b * h * w
        let dt = UnsafeMutablePointer<Float>.allocate(capacity: rows * (2 * max(h, w) - 1))
        defer { dt.deallocate() }
        for axis in Axis.both(height: h, width: w) {
            let length = 2 * axis.size - 1
            let dTable = axis.isHeight ? dTableH : dTableW
            guard dq != nil || dTable != nil else { continue }
            dt.update(repeating: 0, count: rows * length)
            let dRel = axis.isHeight ? dRelH : dRelW
            for r in 0..<rows {
                let band: Int = r &* length &+ axis.position(ofRow: r) &+ axis.size &- 1
                let dst = dt + band, src = dRel + r &* axis.size
                for j in 0..<axis.size { dst[-j] = src[j] }
            }
            let table = axis.isHeight ? tableH : tableW
            if let dq {
                Gemm.sgemm(m: rows, n: d, k: length, a: dt, lda: length, b: table, ldb: d, beta: 1, c: dq, ldc: ldq)
            }
            if let dTable {
                Gemm.sgemm(transA: true, m: length, n: d, k: rows, a: dt, lda: length, b: q, ldb: ldq,
                           beta: 1, c: dTable, ldc: d)
            }
        }
    }

    /// One grid axis: its size S and how a token row maps to its query position along it.
    private struct Axis {
        var isHeight: Bool, size: Int, width: Int

        static func both(height h: Int, width w: Int) -> [Axis] {
            [Axis(isHeight: true, size: h, width: w), Axis(isHeight: false, size: w, width: w)]
        }

        /// qh = (r / W) mod H for the height axis, qw = r mod W for the width axis.
        @inline(__always)
        func position(ofRow r: Int) -> Int { isHeight ? r / width % size : r % width }
    }
}
