import Tensors

/// Winograd minimal filtering F(m x m, 3 x 3) (Lavin & Gray 2015, "Fast Algorithms for Convolutional
/// Neural Networks", §4): the m x m output tile of a 3 x 3 correlation is `A^T [(G g G^T) ⊙ (B^T d B)] A`
/// for the alpha x alpha input tile d (alpha = m + 2) and the kernel g. Matrices are row-major.
public struct WinogradTransform: Equatable, Sendable {
    /// Output tile side m.
    public let m: Int
    /// B^T (alpha, alpha), G (alpha, 3), A^T (m, alpha).
    let bT: [Float], g: [Float], aT: [Float]

    /// Input tile side alpha = m + 2.
    public var alpha: Int { m + 2 }

    /// F(2x2, 3x3), interpolation points 0, 1, -1, inf: 16 multiplies per 2 x 2 tile instead of 36.
    public static let f2 = WinogradTransform(
        m: 2,
        bT: [1, 0, -1, 0,
             0, 1, 1, 0,
             0, -1, 1, 0,
             0, 1, 0, -1],
        g: [1, 0, 0,
            0.5, 0.5, 0.5,
            0.5, -0.5, 0.5,
            0, 0, 1],
        aT: [1, 1, 1, 0,
             0, 1, -1, -1])

    /// F(4x4, 3x3), interpolation points 0, 1, -1, 1/2, -2, inf: 36 multiplies per 4 x 4 tile instead of
    /// 144. Lavin & Gray's points 0, ±1, ±2 (and their reciprocals 0, ±1, ±1/2, which round the same)
    /// give 2.5-4x the largest error of these and 1.2x the mean (fp32 against a double reference,
    /// 64-1024 channels; Barabasz et al. 2020 on choosing the points). B^T is scaled to integers.
    public static let f4 = WinogradTransform(
        m: 4,
        bT: [2, -3, -4, 3, 2, 0,
             0, -2, 1, 5, 2, 0,
             0, 2, -5, 1, 2, 0,
             0, -2, -1, 2, 1, 0,
             0, 1, -2, -1, 2, 0,
             0, 2, -3, -4, 3, 2],
        g: [1.0 / 2, 0, 0,
            1.0 / 6, 1.0 / 6, 1.0 / 6,
            -1.0 / 6, 1.0 / 6, -1.0 / 6,
            -16.0 / 15, -8.0 / 15, -4.0 / 15,
            1.0 / 30, -1.0 / 15, 2.0 / 15,
            0, 0, 1.0 / 2],
        aT: [1, 1, 1, 1, 1, 0,
             0, 1, -1, 0.5, -2, 0,
             0, 1, 1, 0.25, 4, 0,
             0, 1, -1, 0.125, -8, 1])
}

extension Conv2dWinograd {
    /// u (alpha², R, C) <- `G g G^T` per kernel, element (a * alpha + j, r, c). Plain: R = O, C = I,
    /// g = w[r, c]. `flipped` (the input gradient's kernels): R = I, C = O, g = w[c, r] rotated 180°.
    /// weight (O, I, 3, 3).
    static func transformWeights(
        u: UnsafeMutablePointer<Float>, weight: UnsafePointer<Float>, outChannels o: Int, inChannels i: Int,
        flipped: Bool, transform t: WinogradTransform
    ) {
        let (rows, cols, alpha) = flipped ? (i, o, t.alpha) : (o, i, t.alpha)
        t.g.withUnsafeBufferPointer { gb in
            let g = gb.baseAddress!
            RowParallel.run(rows: rows, width: cols * alpha * alpha) { range in
                // kernel (9, C): the 3 x 3 taps of row r, channel-minor; half (alpha, 3, C) = G @ kernel.
                let kernel = UnsafeMutablePointer<Float>.allocate(capacity: (9 + 3 * alpha) * cols)
                defer { kernel.deallocate() }
                let half = kernel + 9 * cols
                for r in range {
                    for c in 0..<cols {
                        let (base, step) = flipped ? ((c &* i &+ r) &* 9 &+ 8, -1) : ((r &* i &+ c) &* 9, 1)
                        for tap in 0..<9 { kernel[tap &* cols &+ c] = weight[base &+ tap &* step] }
                    }
                    for a in 0..<alpha {
                        combine(half + a * 3 * cols, count: 3 * cols, terms: 3) {
                            (g[a * 3 + $0], UnsafePointer(kernel + $0 * 3 * cols))
                        }
                    }
                    for a in 0..<alpha {
                        for j in 0..<alpha {
                            combine(u + ((a * alpha + j) * rows + r) * cols, count: cols, terms: 3) {
                                (g[j * 3 + $0], UnsafePointer(half + (a * 3 + $0) * cols))
                            }
                        }
                    }
                }
            }
        }
    }

    /// dWeight (O, I, 3, 3) += `G^T dU G` per (o, i): the adjoint of `transformWeights` (plain).
    /// dU (alpha², O, I).
    static func addWeightGradient(
        dWeight: UnsafeMutablePointer<Float>, dU: UnsafePointer<Float>, outChannels o: Int, inChannels i: Int,
        transform t: WinogradTransform
    ) {
        let alpha = t.alpha
        t.g.withUnsafeBufferPointer { gb in
            let g = gb.baseAddress!
            RowParallel.run(rows: o, width: i * alpha * alpha) { range in
                // half (3, alpha, I) = G^T @ dU over a; taps (9, I) = half @ G over j.
                let half = UnsafeMutablePointer<Float>.allocate(capacity: (3 * alpha + 9) * i)
                defer { half.deallocate() }
                let taps = half + 3 * alpha * i
                for r in range {
                    for p in 0..<3 {
                        for j in 0..<alpha {
                            combine(half + (p * alpha + j) * i, count: i, terms: alpha) {
                                (g[$0 * 3 + p], dU + (($0 * alpha + j) * o + r) * i)
                            }
                        }
                    }
                    for p in 0..<3 {
                        for q in 0..<3 {
                            combine(taps + (p * 3 + q) * i, count: i, terms: alpha) {
                                (g[$0 * 3 + q], UnsafePointer(half + (p * alpha + $0) * i))
                            }
                        }
                    }
                    let out = dWeight + r * i * 9
                    for c in 0..<i {
                        for tap in 0..<9 { out[c &* 9 &+ tap] += taps[tap &* i &+ c] }
                    }
                }
            }
        }
    }
}
