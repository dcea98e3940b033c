import Collectives
import Config
import Embeddings
import Evaluation
import Foundation
import Layers
import Runs
import Training

/// NT-Xent over a global batch spread across ranks (issue 8: gather embeddings, not per-rank losses).
///
/// Rank r holds n_r samples, both views: its local z (2 n_r, D) is its first views then its second
/// views (the `NTXentLoss` layout for its own samples). The global batch is the ranks' samples
/// concatenated in rank order, N = sum_r n_r, laid out as `NTXentLoss` expects: all first views
/// (rank 0's, rank 1's, ...) then all second views, so every row's negatives are the other 2N - 2
/// rows of the whole global batch, exactly as on a single process.
///
/// Method: one all-gather of every rank's projections (as bytes); every rank then builds the same
/// global (2N, D) matrix and the same similarity matrix, so the loss is computed identically (and
/// bit-identically) everywhere, with no reduction. The gradient is produced only for this rank's
/// own rows, but from the probabilities of the whole batch: other ranks' rows enter it through the
/// terms where this rank's rows are their negatives (the p_ji term of `NTXentLoss`), so it is the
/// exact global gradient restricted to the own rows, not an approximation.
/// Cost per rank: O((2N)^2 D) for the similarities plus O(2 n_r 2N D) for the gradient.
public enum DistributedNTXent {
    /// Returns the global loss (the same on every rank) and, when `dZ` is given, accumulates
    /// `dZ += upstream * dL/dz` for this rank's rows. z and dZ (2 n_r, D), n_r = `localSamples`
    /// (may be 0 on some ranks, but the global N must be at least 1). Collective: every rank calls it.
    public static func lossAndGradient(
        dZ: UnsafeMutablePointer<Float>?, upstream: Float = 1, z: UnsafePointer<Float>,
        localSamples: Int, dim d: Int, temperature: Double = NTXentLoss.defaultTemperature,
        communicator: Communicator
    ) throws -> Double {
        precondition(localSamples >= 0 && d >= 1, "local samples \(localSamples), dim \(d)")
        let localCount = 2 &* localSamples &* d
        let mine = Array(UnsafeRawBufferPointer(start: z, count: localCount &* MemoryLayout<Float>.size))
        let gathered = try communicator.allGather(mine)
        let shares = try sampleCounts(gathered, dim: d, rank: communicator.rank)
        guard shares[communicator.rank] == localSamples else {
            throw CollectiveError(rank: communicator.rank, operation: "NT-Xent all-gather",
                                  detail: "own share \(shares[communicator.rank]) samples, expected \(localSamples)")
        }
        let n = shares.reduce(0, +)
        guard n >= 1 else {
            throw CollectiveError(rank: communicator.rank, operation: "NT-Xent", detail: "the global batch is empty")
        }
        let global = assemble(gathered, shares: shares, dim: d)
        let offset = shares[..<communicator.rank].reduce(0, +)
        return global.withUnsafeBufferPointer { g -> Double in
            guard let dZ else {
                return NTXentLoss.forward(z: g.baseAddress!, samples: n, dim: d, temperature: temperature)
            }
            return NTXentLoss.backward(dZ: dZ, upstream: upstream, z: g.baseAddress!, samples: n, dim: d,
                                       temperature: temperature, gradientSamples: offset..<(offset &+ localSamples))
        }
    }

    /// Each rank's sample count from its gathered byte count (2 n_r D floats).
    static func sampleCounts(_ gathered: [[UInt8]], dim d: Int, rank: Int) throws -> [Int] {
        let rowBytes = 2 &* d &* MemoryLayout<Float>.size
        return try gathered.enumerated().map { r, bytes in
            guard bytes.count % rowBytes == 0 else {
                throw CollectiveError(rank: rank, operation: "NT-Xent all-gather",
                                      detail: "rank \(r) sent \(bytes.count) bytes, not a multiple of 2 x \(d) floats")
            }
            return bytes.count / rowBytes
        }
    }

    /// The global z (2N, D): every rank's first views in rank order, then every rank's second views.
    static func assemble(_ gathered: [[UInt8]], shares: [Int], dim d: Int) -> [Float] {
        let n = shares.reduce(0, +)
        var global = [Float](repeating: 0, count: 2 &* n &* d)
        global.withUnsafeMutableBufferPointer { out in
            var offset = 0
            for (bytes, share) in zip(gathered, shares) {
                let viewBytes = share &* d &* MemoryLayout<Float>.size
                if viewBytes > 0 {
                    bytes.withUnsafeBytes { raw in
                        UnsafeMutableRawPointer(out.baseAddress! + offset &* d)
                            .copyMemory(from: raw.baseAddress!, byteCount: viewBytes)
                        UnsafeMutableRawPointer(out.baseAddress! + (n &+ offset) &* d)
                            .copyMemory(from: raw.baseAddress! + viewBytes, byteCount: viewBytes)
                    }
                }
                offset &+= share
            }
        }
        return global
    }
}
