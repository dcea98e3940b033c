import Tensors

/// The tile grid of a Winograd convolution over a batch of H x W planes: tile (b, ty, tx) covers output
/// rows m*ty ..< m*ty + m and columns m*tx ..< m*tx + m (clipped to the plane) and reads the alpha x alpha
/// input window from row m*ty - 1 and column m*tx - 1 (zero outside: padding 1). Tiles are numbered
/// row-major over (b, ty, tx); a band is a range of tile rows r = b * tilesY + ty, tilesX tiles each.
///
/// Rows are handled de-interleaved: "phases" (m, P) of a row hold `phase[p, q] = row[m*q + p + offset]`,
/// so tile tx's column m*tx + c is `phase[c % m, tx + c / m]` and every transform loop is unit-stride.
struct WinogradTiling {
    let m, alpha, batch, height, width, tilesY, tilesX: Int

    init(_ t: WinogradTransform, batch: Int, height: Int, width: Int) {
        (m, alpha, self.batch, self.height, self.width) = (t.m, t.alpha, batch, height, width)
        (tilesY, tilesX) = ((height + t.m - 1) / t.m, (width + t.m - 1) / t.m)
    }

    /// Tile rows over the whole batch.
    var tileRows: Int { batch * tilesY }
    /// Phase length of a padded input row (P = tilesX + 1 covers columns -1 ..< m*tilesX + m - 1).
    var inputPhase: Int { tilesX + 1 }

    /// Image index and tile row inside the image of tile row `r`.
    func split(_ r: Int) -> (image: Int, ty: Int) { (r / tilesY, r % tilesY) }
}

extension Conv2dWinograd {
    /// v (alpha², C, ldv) <- `B^T d B` for every tile of tile rows `rows`, element (a * alpha + j, c, tile)
    /// with tile = (r - rows.lowerBound) * tilesX + tx. x (B, C, H, W).
    static func transformInput(
        v: UnsafeMutablePointer<Float>, ldv: Int, x: UnsafePointer<Float>, channels: Int,
        tiling t: WinogradTiling, rows: Range<Int>, bT: UnsafePointer<Float>
    ) {
        let (m, alpha, tilesX, phase) = (t.m, t.alpha, t.tilesX, t.inputPhase), rowLength = t.m * phase
        RowParallel.run(rows: channels, width: rows.count * tilesX * alpha * alpha) { range in
            // window (alpha, m, P): the de-interleaved input rows; mixed (alpha, m, P) = B^T @ window.
            let window = UnsafeMutablePointer<Float>.allocate(capacity: 2 * alpha * rowLength)
            defer { window.deallocate() }
            let mixed = window + alpha * rowLength
            for c in range {
                for r in rows {
                    let (b, ty) = t.split(r), plane = x + (b * channels + c) * t.height * t.width
                    for k in 0..<alpha {
                        let iy = m * ty - 1 + k
                        loadPhases(window + k * rowLength, row: iy >= 0 && iy < t.height ? plane + iy * t.width : nil,
                                   width: t.width, m: m, phase: phase, offset: -1)
                    }
                    for a in 0..<alpha {
                        combine(mixed + a * rowLength, count: rowLength, terms: alpha) {
                            (bT[a * alpha + $0], UnsafePointer(window + $0 * rowLength))
                        }
                    }
                    let out = v + c * ldv + (r - rows.lowerBound) * tilesX
                    for a in 0..<alpha {
                        for j in 0..<alpha {
                            combine(out + (a * alpha + j) * channels * ldv, count: tilesX, terms: alpha) {
                                (bT[j * alpha + $0], UnsafePointer(mixed + a * rowLength + ($0 % m) * phase + $0 / m))
                            }
                        }
                    }
                }
            }
        }
    }

    /// y (B, O, H, W) (+)= `A^T M A` + bias for every tile of tile rows `rows`, clipped to the plane;
    /// `accumulate` adds to y instead of overwriting it. mm (alpha², O, ldm) laid out as `transformInput`'s v.
    static func transformOutput(
        y: UnsafeMutablePointer<Float>, mm: UnsafePointer<Float>, ldm: Int, channels: Int,
        bias: UnsafePointer<Float>?, accumulate: Bool, tiling t: WinogradTiling, rows: Range<Int>,
        aT: UnsafePointer<Float>
    ) {
        let (m, alpha, tilesX) = (t.m, t.alpha, t.tilesX), rowLength = t.m * tilesX
        RowParallel.run(rows: channels, width: rows.count * tilesX * alpha * alpha) { range in
            // half (alpha, m, tilesX) = M @ A over j; out (m, tilesX) one output row, de-interleaved;
            // line (W) that row interleaved when it is added to y.
            let half = UnsafeMutablePointer<Float>.allocate(capacity: (alpha + 2) * rowLength)
            defer { half.deallocate() }
            let out = half + alpha * rowLength, line = out + rowLength
            for o in range {
                let bv = bias?[o] ?? 0
                for r in rows {
                    let (b, ty) = t.split(r), src = mm + o * ldm + (r - rows.lowerBound) * tilesX
                    for a in 0..<alpha {
                        for c in 0..<m {
                            combine(half + a * rowLength + c * tilesX, count: tilesX, terms: alpha) {
                                (aT[c * alpha + $0], src + (a * alpha + $0) * channels * ldm)
                            }
                        }
                    }
                    for k in 0..<min(m, t.height - m * ty) {
                        combine(out, count: rowLength, terms: alpha) {
                            (aT[k * alpha + $0], UnsafePointer(half + $0 * rowLength))
                        }
                        let yRow = y + ((b * channels + o) * t.height + m * ty + k) * t.width
                        storePhases(accumulate ? line : yRow, out, width: t.width, m: m, phase: tilesX, bias: bv)
                        if accumulate { addRow(yRow, line, count: t.width) }
                    }
                }
            }
        }
    }

    /// z (alpha², O, ldz) <- `A dY A^T` for every tile of tile rows `rows` (the adjoint of the output
    /// transform), dY the m x m tile of dy (zero outside the plane). dy (B, O, H, W); layout as v.
    static func transformOutputGradient(
        z: UnsafeMutablePointer<Float>, ldz: Int, dy: UnsafePointer<Float>, channels: Int,
        tiling t: WinogradTiling, rows: Range<Int>, aT: UnsafePointer<Float>
    ) {
        let (m, alpha, tilesX) = (t.m, t.alpha, t.tilesX), rowLength = t.m * tilesX
        RowParallel.run(rows: channels, width: rows.count * tilesX * alpha * alpha) { range in
            // tile (m, m, tilesX): the de-interleaved dy rows; mixed (alpha, m, tilesX) = A @ tile over rows.
            let tile = UnsafeMutablePointer<Float>.allocate(capacity: (m + alpha) * rowLength)
            defer { tile.deallocate() }
            let mixed = tile + m * rowLength
            for o in range {
                for r in rows {
                    let (b, ty) = t.split(r), plane = dy + (b * channels + o) * t.height * t.width
                    for k in 0..<m {
                        let iy = m * ty + k
                        loadPhases(tile + k * rowLength, row: iy < t.height ? plane + iy * t.width : nil,
                                   width: t.width, m: m, phase: tilesX, offset: 0)
                    }
                    for a in 0..<alpha {
                        combine(mixed + a * rowLength, count: rowLength, terms: m) {
                            (aT[$0 * alpha + a], UnsafePointer(tile + $0 * rowLength))
                        }
                    }
                    let out = z + o * ldz + (r - rows.lowerBound) * tilesX
                    for a in 0..<alpha {
                        for j in 0..<alpha {
                            combine(out + (a * alpha + j) * channels * ldz, count: tilesX, terms: m) {
                                (aT[$0 * alpha + j], UnsafePointer(mixed + a * rowLength + $0 * tilesX))
                            }
                        }
                    }
                }
            }
        }
    }
}
