import Collectives
import Foundation
import Layers
import Tensors
import TestSupport
import XCTest
@testable import Baselines
@testable import Config
@testable import Embeddings
@testable import Evaluation
@testable import Experiments
@testable import Runs
@testable import Training

/// The NT-Xent loss of a global batch spread over 1, 2 and 3 in-process ranks (uneven shares,
/// one empty) equals the single-process loss, and each sample's rows get the same gradient.
final class DistributedNTXentTests: XCTestCase {
    let n = 7, d = 5

    /// Rank-local z (2 n_r, D): the share's first views, then its second views.
    func localRows(_ z: Tensor, share: Range<Int>) -> [Float] {
        var rows: [Float] = []
        for s in share { rows += Array(z.data[(s * d)..<((s + 1) * d)]) }
        for s in share { rows += Array(z.data[((n + s) * d)..<((n + s + 1) * d)]) }
        return rows
    }

    /// Runs the distributed loss with the given per-rank sample counts; returns the per-rank losses
    /// and the gradient re-assembled into the global (2N, D) layout.
    func distributed(_ z: Tensor, shares: [Int], upstream: Float) throws -> (losses: [Double], gradient: Tensor) {
        let offsets = shares.indices.map { shares[..<$0].reduce(0, +) }
        let results = try LocalGroup.run(size: shares.count) { comm -> (Double, [Float], Double) in
            let share = offsets[comm.rank]..<(offsets[comm.rank] + shares[comm.rank])
            let local = self.localRows(z, share: share)
            var dZ = [Float](repeating: 0, count: local.count)
            let loss = try DistributedNTXent.lossAndGradient(
                dZ: &dZ, upstream: upstream, z: local, localSamples: share.count, dim: self.d, communicator: comm)
            let lossOnly = try DistributedNTXent.lossAndGradient(
                dZ: nil, z: local, localSamples: share.count, dim: self.d, communicator: comm)
            return (loss, dZ, lossOnly)
        }
        var gradient = Tensor(zeros: z.shape)
        for (r, result) in results.enumerated() {
            XCTAssertEqual(result.0, result.2, "rank \(r): loss with and without gradient")
            let m = shares[r]
            for (k, s) in (offsets[r]..<(offsets[r] + m)).enumerated() {
                for c in 0..<d {
                    gradient.data[s * d + c] = result.1[k * d + c]
                    gradient.data[(n + s) * d + c] = result.1[(m + k) * d + c]
                }
            }
        }
        return (results.map(\.0), gradient)
    }

    func testOneTwoThreeRanksMatchSingleProcess() throws {
        let z = randomTensor([2 * n, d], seed: 1200, scale: 2)
        let upstream: Float = 1.75
        let expectedLoss = z.withPointer { NTXentLoss.forward(z: $0, samples: n, dim: d) }
        var expectedGradient = Tensor(zeros: z.shape)
        z.withPointer { pz in
            _ = NTXentLoss.backward(dZ: &expectedGradient.data, upstream: upstream, z: pz, samples: n, dim: d)
        }
        XCTAssertGreaterThan(expectedGradient.data.map(abs).max()!, 1e-3, "the gradient must not vanish")
        for shares in [[7], [3, 4], [6, 1], [2, 0, 5], [1, 3, 3]] {
            let (losses, gradient) = try distributed(z, shares: shares, upstream: upstream)
            for (r, loss) in losses.enumerated() {
                XCTAssertEqual(loss, expectedLoss, accuracy: 1e-9, "shares \(shares), rank \(r): loss")
            }
            assertClose(gradient, expectedGradient, atol: 1e-6, rtol: 0, "shares \(shares): gradient")
        }
    }

    /// Negatives must come from the whole global batch: per-rank losses averaged would differ.
    func testGlobalLossDiffersFromMeanOfLocalLosses() throws {
        let z = randomTensor([2 * n, d], seed: 1201, scale: 2)
        let global = z.withPointer { NTXentLoss.forward(z: $0, samples: n, dim: d) }
        let shares = [3, 4]
        var localMean = 0.0
        var start = 0
        for m in shares {
            let local = localRows(z, share: start..<(start + m))
            localMean += Double(m) / Double(n) * NTXentLoss.forward(z: local, samples: m, dim: d)
            start += m
        }
        XCTAssertGreaterThan(abs(global - localMean), 1e-3)
        let (losses, _) = try distributed(z, shares: shares, upstream: 1)
        XCTAssertEqual(losses[0], global, accuracy: 1e-9)
    }

    func testMalformedShareIsReported() {
        XCTAssertThrowsError(try DistributedNTXent.sampleCounts([[UInt8](repeating: 0, count: 40), [0, 0, 0]],
                                                                dim: 5, rank: 0))
        XCTAssertEqual(try DistributedNTXent.sampleCounts([[UInt8](repeating: 0, count: 80), []], dim: 5, rank: 1),
                       [2, 0])
    }
}
