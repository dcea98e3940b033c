import Collectives
import Datasets
import Foundation
import Heads
import Tensors
import XCTest
@testable import Evaluation
@testable import Training

/// The ensemble's arithmetic and `EnsemblePredictor` on the two seeds' heads of `TinyEnsembleRun`,
/// against each seed's logits computed separately by the single-seed predictor.
final class EnsemblePredictorTests: XCTestCase {
    /// Mean of the separately computed softmaxes, for logits of awkward shapes.
    func testMeanProbabilitiesAreTheMeanOfEachSeedsSoftmax() {
        let shape = [2, 3, 5, 7]
        let count = shape.reduce(1, *)
        let seeds = (0..<3).map { (s: Int) -> Tensor in
            let scale: Double = s == 2 ? 30 : 4
            let data = (0..<count).map { (i: Int) -> Float in Float(sin(Double(i * 7 + s * 131)) * scale) }
            return Tensor(shape: shape, data: data)
        }
        let mean = EnsembleMath.meanProbabilities(seeds)
        XCTAssertEqual(mean.shape, shape)
        let (k, p) = (shape[1], shape[2] * shape[3])
        for b in 0..<shape[0] {
            for i in 0..<p {
                var expected = [Double](repeating: 0, count: k)
                for logits in seeds {
                    let item = Tensor(shape: [k, p], data: Array(logits.data[b * k * p ..< (b + 1) * k * p]))
                    for (c, q) in TinyEnsembleRun.softmax(item, pixel: i).enumerated() { expected[c] += q / 3 }
                }
                for c in 0..<k {
                    XCTAssertEqual(Double(mean.data[(b * k + c) * p + i]), expected[c], accuracy: 1e-6)
                }
            }
        }
    }

    /// Two seeds' real heads: the entropy map is that of the mean of each seed's softmax of its own
    /// logits, the labels are its argmax (away from near-ties), each seed's labels are its
    /// single-seed prediction exactly.
    func testTwoSeedsEnsembleIsTheMeanOfTheSeedsSeparateSoftmaxes() throws {
        let set = try TinyEnsembleRun.testSet()
        let provider = try TinyEnsembleRun.provider()
        let (head, members) = try TinyEnsembleRun.members(provider: provider)
        let c = TinyEnsembleRun.shared.config
        var predictor = EnsemblePredictor(head: head, provider: provider, sliceSize: c.data.slice_size,
                                          batchSize: c.optim.batch_size, members: members, uncertainty: .entropy)
        let prediction = try predictor.predict(volume: 0, of: set)
        let separate = try TinyEnsembleRun.separateLogits(volume: 0, of: set)
        let volume = set.volumes[0], p = volume.height * volume.width
        var compared = 0, disagreeing = 0
        for z in 0..<volume.depth {
            for i in 0..<p {
                let perSeed = separate.map { TinyEnsembleRun.softmax($0[z], pixel: i) }
                let mean = (0..<c.data.classes).map { k in perSeed.map { $0[k] }.reduce(0, +) / 2 }
                let entropy = try XCTUnwrap(prediction.uncertainty)[z * p + i]
                XCTAssertEqual(Double(entropy), TinyEnsembleRun.entropy(mean), accuracy: 1e-5)
                let ranked = mean.enumerated().sorted { $0.element > $1.element }
                if ranked[0].element - ranked[1].element > 1e-4 {
                    XCTAssertEqual(Int(prediction.labels[z * p + i]), ranked[0].offset)
                    compared += 1
                }
                for (s, seed) in perSeed.enumerated() where seed.max()! - seed.sorted().dropLast().last! > 1e-4 {
                    XCTAssertEqual(Int(prediction.seedLabels[s][z * p + i]), seed.firstIndex(of: seed.max()!)!)
                }
                if prediction.seedLabels[0][z * p + i] != prediction.seedLabels[1][z * p + i] { disagreeing += 1 }
            }
        }
        XCTAssertGreaterThan(compared, volume.depth * p / 2)
        for (s, member) in members.enumerated() {
            var single = VolumePredictor(head: head, provider: provider, sliceSize: c.data.slice_size,
                                         batchSize: c.optim.batch_size)
            let labels = try single.predict(volume: 0, of: set, params: member.state.params, template: member.state,
                                            frozen: member.frozen)
            XCTAssertEqual(prediction.seedLabels[s], labels, "seed \(s)'s labels differ from its single prediction")
        }
        XCTAssertGreaterThan(disagreeing, 0, "the two seeds agree everywhere: the mean would not be tested")
    }

    /// The same head twice: the single seed's labels, no disagreement, the single seed's entropy.
    func testIdenticalSeedsGiveTheSingleSeedsLabelsZeroDisagreementAndItsEntropy() throws {
        let set = try TinyEnsembleRun.testSet()
        let provider = try TinyEnsembleRun.provider()
        let (head, members) = try TinyEnsembleRun.members(provider: provider)
        let c = TinyEnsembleRun.shared.config
        func ensemble(_ kind: EnsembleUncertainty) throws -> EnsembleVolumePrediction {
            var predictor = EnsemblePredictor(head: head, provider: provider, sliceSize: c.data.slice_size,
                                              batchSize: c.optim.batch_size, members: [members[0], members[0]],
                                              uncertainty: kind)
            return try predictor.predict(volume: 0, of: set)
        }
        var single = VolumePredictor(head: head, provider: provider, sliceSize: c.data.slice_size,
                                     batchSize: c.optim.batch_size)
        let labels = try single.predict(volume: 0, of: set, params: members[0].state.params,
                                        template: members[0].state, frozen: members[0].frozen)
        let (entropy, disagreement) = (try ensemble(.entropy), try ensemble(.disagreement))
        XCTAssertEqual(entropy.labels, labels)
        XCTAssertEqual(disagreement.labels, labels)
        XCTAssertEqual(disagreement.uncertainty, [Float](repeating: 0, count: labels.count))
        let logits = try TinyEnsembleRun.separateLogits(volume: 0, of: set)[0]
        let p = set.volumes[0].height * set.volumes[0].width
        let map = try XCTUnwrap(entropy.uncertainty)
        for (z, slice) in logits.enumerated() {
            for i in 0..<p {
                let expected = TinyEnsembleRun.entropy(TinyEnsembleRun.softmax(slice, pixel: i))
                XCTAssertEqual(Double(map[z * p + i]), expected, accuracy: 1e-5)
            }
        }
    }

    /// One encoder pass per slice, however many seeds; the same predictions on 1 and 2 ranks.
    func testEncoderRunsOncePerSliceAndRanksShareTheVolumes() throws {
        let ensemble = try EnsemblePrediction(run: TinyEnsembleRun.shared.folder)
        let set = try ensemble.testSet()
        let encoder = CountingEncoder()
        let one = try XCTUnwrap(try ensemble.predict(set, comm: SingleProcessCommunicator(),
                                                     uncertainty: .disagreement, encoderFactory: { _ in encoder }))
        XCTAssertEqual(encoder.calls, set.count)
        XCTAssertEqual(one.count, set.volumes.count)
        let ranks = try LocalGroup.run(size: 2) { comm in
            try ensemble.predict(set, comm: comm, uncertainty: .disagreement,
                                 encoderFactory: { _ in SpaceToDepthEncoder() })
        }
        XCTAssertEqual(ranks[0], one)
        XCTAssertNil(ranks[1])
    }
}
