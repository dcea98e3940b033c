import Collectives
import Config
import Datasets
import Embeddings
import Foundation
import Heads
import Runs
import Tensors
import Training

/// A volume segmented by a seed ensemble. Every map is (D, H, W) in the `Volume` layout.
public struct EnsembleVolumePrediction: Equatable {
    /// The ensemble's labels (`EnsembleMath.vote`).
    public let labels: [UInt8]
    /// Each seed's own argmax, in the members' order: what its single-seed prediction is.
    public let seedLabels: [[UInt8]]
    /// The uncertainty map asked for, nil when none was.
    public let uncertainty: [Float]?

    /// The bytes `LabelMapGather` carries: the labels, each seed's labels, then the uncertainty as
    /// little-endian float32.
    var packed: [UInt8] {
        var bytes = labels + seedLabels.joined()
        for v in uncertainty ?? [] { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes += $0 } }
        return bytes
    }

    init(labels: [UInt8], seedLabels: [[UInt8]], uncertainty: [Float]?) {
        (self.labels, self.seedLabels, self.uncertainty) = (labels, seedLabels, uncertainty)
    }

    /// Unpacks `packed` of a volume of `voxels` voxels and `seeds` seeds.
    init(packed bytes: [UInt8], voxels n: Int, seeds: Int, uncertainty: Bool) {
        precondition(bytes.count == n * (1 + seeds + (uncertainty ? 4 : 0)), "ensemble prediction of the wrong size")
        labels = Array(bytes[0..<n])
        seedLabels = (1...seeds).map { Array(bytes[$0 * n ..< ($0 + 1) * n]) }
        let start = (1 + seeds) * n
        self.uncertainty = !uncertainty ? nil : bytes.withUnsafeBytes { raw in
            (0..<n).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: start + 4 * $0,
                                                                                    as: UInt32.self))) }
        }
    }
}

/// Whole-volume inference of a seed ensemble: each slice's clean embedding is computed once
/// (`VolumePredictor.forEachBatch`) and goes through every seed's head; each head's logits are
/// resized to the native slice size as in single-seed prediction (`VolumePredictor.nativeLogits`),
/// turned into probabilities and averaged (`EnsembleMath`). Volumes are sharded over ranks whole
/// and gathered on the coordinator (`LabelMapGather`), as the single-seed predictor does.
public struct EnsemblePredictor<Head: SegmentationHead> {
    /// One seed's restored head: its test parameters in their state, and its frozen buffers.
    public typealias Member = (state: TrainableState, frozen: FrozenState)

    var predictor: VolumePredictor<Head>
    let members: [Member]
    let uncertainty: EnsembleUncertainty?

    public init(head: Head, provider: EmbeddingProvider, sliceSize: Int, batchSize: Int, members: [Member],
                uncertainty: EnsembleUncertainty?) {
        precondition(!members.isEmpty, "an ensemble needs members")
        predictor = VolumePredictor(head: head, provider: provider, sliceSize: sliceSize, batchSize: batchSize)
        (self.members, self.uncertainty) = (members, uncertainty)
    }

    /// The ensemble prediction of volume `v` of `set`.
    public mutating func predict(volume v: Int, of set: SliceSet) throws -> EnsembleVolumePrediction {
        let volume = set.volumes[v]
        let (h, w) = (volume.height, volume.width)
        let n = volume.depth * h * w
        var labels = [UInt8](repeating: 0, count: n)
        var seedLabels = [[UInt8]](repeating: labels, count: members.count)
        var map = [Float](repeating: 0, count: uncertainty == nil ? 0 : n)
        var predictor = self.predictor
        let (members, uncertainty) = (self.members, self.uncertainty)
        try VolumePredictor<Head>.forEachBatch(volume: v, of: set, provider: predictor.provider,
                                               batchSize: predictor.batchSize) { embeddings, z in
            var logits: [Tensor] = []                                  // S x (B, K, h, w)
            for (m, member) in members.enumerated() {
                let native = predictor.nativeLogits(embeddings, height: h, width: w, state: member.state,
                                                    frozen: member.frozen)
                for (j, index) in z.enumerated() {
                    VolumePredictor<Head>.argmax(native, item: j, into: &seedLabels[m], offset: index * h * w)
                }
                logits.append(native)
            }
            let mean = EnsembleMath.meanProbabilities(logits)
            for (j, index) in z.enumerated() {
                EnsembleMath.vote(mean, item: j, seedLabels: seedLabels, offset: index * h * w, labels: &labels,
                                  uncertainty: uncertainty, map: &map)
            }
        }
        self.predictor = predictor
        return EnsembleVolumePrediction(labels: labels, seedLabels: seedLabels,
                                        uncertainty: uncertainty == nil ? nil : map)
    }

    /// Predicts this rank's share of the volumes of `set` (`progress` after each, with its index)
    /// and gathers every prediction on the coordinator (nil elsewhere), indexed by volume.
    public mutating func predictAll(_ set: SliceSet, comm: Communicator,
                                    progress: (Int) -> Void = { _ in }) throws -> [EnsembleVolumePrediction]? {
        let mine = try BatchSharding.share(Array(set.volumes.indices), rank: comm.rank, size: comm.size).map { v in
            let packed = try predict(volume: v, of: set).packed
            progress(v)
            return (volume: v, labels: packed)
        }
        guard let all = try LabelMapGather.gather(mine, count: set.volumes.count, comm: comm) else { return nil }
        return zip(set.volumes, all).map { volume, bytes in
            EnsembleVolumePrediction(packed: bytes, voxels: volume.image.count, seeds: members.count,
                                     uncertainty: uncertainty != nil)
        }
    }
}
