import Foundation

/// NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR (Chen et al. 2020), over a
/// batch of N samples seen through two augmented views.
///
/// Layout and pairing: z (2N, D) holds the first views a_k in rows 0..<N and the second views b_k
/// in rows N..<2N, so row i's positive is `partner(i) = (i + N) mod 2N`. With unit rows
/// u_i = z_i / max(|z_i|, 1e-12) (PyTorch `F.normalize`), s_ij = u_i . u_j and temperature t,
///
///     loss = (1 / 2N) sum_i [ logsumexp_{j != i}(s_ij / t) - s_{i,partner(i)} / t ]
///
/// i.e. the mean over all 2N rows of `-log(exp(s_ip / t) / sum_{j != i} exp(s_ij / t))`, with the
/// log-sum-exp shifted by the row maximum. Gradient (s symmetric, partner an involution),
/// with p_ij = exp(s_ij / t - logsumexp_i) for j != i:
///
///     dL/du_i = (1 / (2N t)) sum_{j != i} (p_ij + p_ji - 2 [j == partner(i)]) u_j
///     dL/dz_i = (dL/du_i - u_i (u_i . dL/du_i)) / |z_i|      (dL/du_i / 1e-12 when clamped)
///
/// Everything is computed in Double: the (2N, 2N) similarity matrix is small next to the encoder.
/// Because dL/dz_i needs only the probabilities of the whole batch, `backward` can produce the rows
/// of any sample range alone, exactly (what the distributed loss uses).
///
/// Shapes: N samples, D projection width; z and dZ (2N, D) row-major, or (2M, D) for a sample range
/// of M samples (its first views, then its second views).
public enum NTXentLoss {
    /// SimCLR's temperature for this baseline (issue 8).
    public static let defaultTemperature = 0.5
    /// The norm clamp of the row normalisation (PyTorch `F.normalize`'s eps).
    public static let normEpsilon = 1e-12

    /// The positive of `row` among 2N rows: the other view of the same sample.
    @inlinable
    public static func partner(of row: Int, samples n: Int) -> Int { row < n ? row &+ n : row &- n }

    /// Returns the loss of z (2N, D).
    public static func forward(
        z: UnsafePointer<Float>, samples n: Int, dim d: Int, temperature: Double = defaultTemperature
    ) -> Double {
        NTXentBatch(z: z, samples: n, dim: d, temperature: temperature).loss
    }

    /// Accumulates `dZ += upstream * dL/dz` for the rows of the samples in `gradientSamples`
    /// (default: all N, dZ then (2N, D) like z); dZ is (2M, D) for M = gradientSamples.count, the
    /// range's first views then its second views. Returns the loss (the forward value, recomputed).
    @discardableResult
    public static func backward(
        dZ: UnsafeMutablePointer<Float>, upstream: Float, z: UnsafePointer<Float>, samples n: Int, dim d: Int,
        temperature: Double = defaultTemperature, gradientSamples: Range<Int>? = nil
    ) -> Double {
        let batch = NTXentBatch(z: z, samples: n, dim: d, temperature: temperature)
        let range = gradientSamples ?? 0..<n
        precondition(range.lowerBound >= 0 && range.upperBound <= n, "gradient samples \(range) outside 0..<\(n)")
        let m = range.count
        var du = [Double](repeating: 0, count: d)
        for local in 0..<(2 &* m) {
            let row = local < m ? range.lowerBound &+ local : n &+ range.lowerBound &+ (local &- m)
            batch.unitGradient(row: row, into: &du)
            batch.accumulateInputGradient(row: row, unitGradient: du, scale: Double(upstream), into: dZ + local &* d)
        }
        return batch.loss
    }
}

/// One batch's similarity state in Double: unit rows, norms, scaled similarities s_ij / t and the
/// per-row log-sum-exp over j != i.
struct NTXentBatch {
    let n: Int, d: Int, rows: Int
    let temperature: Double
    private(set) var unit: [Double]       // (2N, D)
    private(set) var norms: [Double]      // (2N) |z_i| (unclamped)
    private(set) var logits: [Double]     // (2N, 2N) s_ij / t, diagonal unused
    private(set) var logSumExp: [Double]  // (2N) logsumexp_{j != i} logits_ij

    init(z: UnsafePointer<Float>, samples n: Int, dim d: Int, temperature: Double) {
        precondition(n >= 1 && d >= 1, "NT-Xent needs at least one sample and one feature (got N \(n), D \(d))")
        precondition(temperature > 0, "temperature \(temperature) must be positive")
        self.n = n
        self.d = d
        self.rows = 2 &* n
        self.temperature = temperature
        unit = [Double](repeating: 0, count: rows &* d)
        norms = [Double](repeating: 0, count: rows)
        logits = [Double](repeating: 0, count: rows &* rows)
        logSumExp = [Double](repeating: 0, count: rows)
        normalise(z)
        computeLogits()
    }

    private mutating func normalise(_ z: UnsafePointer<Float>) {
        for i in 0..<rows {
            var sq = 0.0
            for k in 0..<d { let v = Double(z[i &* d &+ k]); sq += v * v }
            let norm = sq.squareRoot()
            norms[i] = norm
            let inv = 1 / max(norm, NTXentLoss.normEpsilon)
            for k in 0..<d { unit[i &* d &+ k] = Double(z[i &* d &+ k]) * inv }
        }
    }

    private mutating func computeLogits() {
        let invT = 1 / temperature
        for i in 0..<rows {
            for j in i..<rows {
                var dot = 0.0
                for k in 0..<d { dot += unit[i &* d &+ k] * unit[j &* d &+ k] }
                logits[i &* rows &+ j] = dot * invT
                logits[j &* rows &+ i] = dot * invT
            }
        }
        for i in 0..<rows {
            var peak = -Double.infinity
            for j in 0..<rows where j != i { peak = max(peak, logits[i &* rows &+ j]) }
            var sum = 0.0
            for j in 0..<rows where j != i { sum += exp(logits[i &* rows &+ j] - peak) }
            logSumExp[i] = peak + log(sum)
        }
    }

    var loss: Double {
        var total = 0.0
        for i in 0..<rows {
            total += logSumExp[i] - logits[i &* rows &+ NTXentLoss.partner(of: i, samples: n)]
        }
        return total / Double(rows)
    }

    /// p_ij = exp(s_ij / t - logsumexp_i), j != i.
    func probability(_ i: Int, _ j: Int) -> Double { exp(logits[i &* rows &+ j] - logSumExp[i]) }

    /// du (D) <- dL/du_row.
    func unitGradient(row i: Int, into du: inout [Double]) {
        for k in 0..<d { du[k] = 0 }
        let scale = 1 / (Double(rows) * temperature)
        let positive = NTXentLoss.partner(of: i, samples: n)
        for j in 0..<rows where j != i {
            var c = probability(i, j) + probability(j, i)
            if j == positive { c -= 2 }
            c *= scale
            for k in 0..<d { du[k] += c * unit[j &* d &+ k] }
        }
    }

    /// out (D) += scale * dL/dz_row, through the normalisation u = z / max(|z|, eps).
    func accumulateInputGradient(row i: Int, unitGradient du: [Double], scale: Double,
                                 into out: UnsafeMutablePointer<Float>) {
        let norm = norms[i]
        if norm < NTXentLoss.normEpsilon {
            for k in 0..<d { out[k] += Float(scale * du[k] / NTXentLoss.normEpsilon) }
            return
        }
        var radial = 0.0
        for k in 0..<d { radial += unit[i &* d &+ k] * du[k] }
        let s = scale / norm
        for k in 0..<d { out[k] += Float(s * (du[k] - unit[i &* d &+ k] * radial)) }
    }
}
