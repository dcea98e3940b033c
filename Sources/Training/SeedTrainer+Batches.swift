import TensorFiles
import Collectives
import Config
import Datasets
import Embeddings
import Foundation
import Heads
import Layers
import Optim
import Runs
import Tensors

extension SeedTrainer {
    /// The validation Dice loss (`optim.validation_loss`): `whole_set`, the soft-Dice of the whole
    /// validation set as one batch; `batch_mean`, the reference's mean over the consecutive
    /// batches of `batch_size` slices of each batch's soft-Dice (batches whose loss is undefined,
    /// every class predicted perfectly, are left out). Slices are dealt round-robin over the ranks
    /// and the per-batch statistics summed over ranks, so neither depends on the rank count.
    func validationLoss(_ set: SliceSet) throws -> Double {
        guard set.count > 0 else { return .nan }
        let b = config.optim.batch_size
        let groups = config.optim.validation_loss == .batchMean ? (set.count + b - 1) / b : 1
        let mine = BatchSharding.share(Array(0..<set.count), rank: comm.rank, size: comm.size)
        let width = SoftDiceLoss.Statistics(classes: step.head.classes).values.count
        var totals = [Double](repeating: 0, count: groups * width)       // (groups, statistics)
        let byGroup = Dictionary(grouping: mine, by: { groups == 1 ? 0 : $0 / b }).sorted(by: { $0.key < $1.key })
        for (group, ids) in byGroup {
            for chunk in stride(from: 0, to: ids.count, by: b) {
                let batch = try makeBatch(Array(ids[chunk..<min(ids.count, chunk + b)]), of: set) {
                    try provider.clean(set, $0)
                }
                let statistics = step.statistics(batch, state: state, frozen: frozen)
                for i in 0..<width { totals[group * width + i] += statistics.values[i] }
            }
        }
        try comm.allReduceSum(&totals)
        let losses = (0..<groups).map { g -> Double in
            var statistics = SoftDiceLoss.Statistics(classes: step.head.classes)
            statistics.values = Array(totals[g * width ..< (g + 1) * width])
            return SoftDiceLoss.loss(statistics).loss
        }.filter(\.isFinite)
        return losses.isEmpty ? .nan : losses.reduce(0, +) / Double(losses.count)
    }

    /// The batch of slices `ids` of `set`, each embedding from `sample`; an embedding with a NaN
    /// or Inf (a damaged cache entry, an overflow in the encoder) is an error naming the slice.
    func makeBatch(_ ids: [Int], of set: SliceSet,
                   _ sample: (Int) throws -> EmbeddingProvider.Sample) throws -> LocalBatch {
        let samples = try ids.map { id -> EmbeddingProvider.Sample in
            let s = try sample(id)
            if let i = s.embedding.data.firstIndex(where: { !$0.isFinite }) {
                let r = set.slices[id]
                throw TrainingError.nonFinite("embedding of \(r.volume) slice \(r.index) "
                                              + "(element \(i) is \(s.embedding.data[i]))")
            }
            return s
        }
        let s = config.data.slice_size
        guard let first = samples.first else {
            return LocalBatch(embeddings: Tensor(zeros: [0]), labels: [], labelSize: s)
        }
        var data: [Float] = []
        data.reserveCapacity(samples.count * first.embedding.count)
        var labels: [Int32] = []
        for sample in samples {
            data += sample.embedding.data
            labels += sample.labels
        }
        return LocalBatch(embeddings: Tensor(shape: [samples.count] + first.embedding.shape, data: data),
                          labels: labels, labelSize: s)
    }
}
