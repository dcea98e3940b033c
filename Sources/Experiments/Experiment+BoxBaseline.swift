import Baselines
import TensorFiles
import Collectives
import Config
import Datasets
import Embeddings
import Evaluation
import Foundation
import Metrics
import Runs
import Training

extension Experiment {
    /// The zero-shot SAM box baseline as a run (`head.kind = sam_box`, issue 8 item 3): no
    /// training, no embedding cache, no head. The test volumes are sharded over the world's
    /// ranks whole (`BatchSharding.share`), each rank predicts its share with its own
    /// `BoxBaseline` (input path `head.box_input`), the label maps are gathered on the
    /// coordinator, which scores them like a training run (standard mode, native resolution) and
    /// writes what `train` writes: `seed_<s>/predictions/<volume>.nii.gz`,
    /// `seed_<s>/test_volumes.csv` and `summary.json` with ONE seed entry (the baseline is
    /// deterministic; s = the first of `config.seeds`). Returns the summary on the coordinator,
    /// nil elsewhere. The mask decoder's head count is `encoder.decoder_heads`;
    /// `maxVolumes`: only the first N test volumes; `metrics`: the columns of the printed table.
    @discardableResult
    public func runBoxBaseline(maxVolumes: Int? = nil,
                               metrics: [Metric] = [.dice, .assd]) throws -> RunSummary? {
        let inputPath = config.head.box_input
        let data = try prepareData()
        let baseline = try BoxBaseline(config: config, inputPath: inputPath)
        let seed = config.seeds[0]
        if world.isCoordinator {
            log.info("SAM box baseline, \(inputPath.rawValue) input, checkpoint \(config.encoder.checkpoint): "
                     + "no training; deterministic, so one seed entry (seed \(seed), the first of config.seeds)")
        }
        let count = min(maxVolumes ?? data.test.volumes.count, data.test.volumes.count)
        var mine: [(volume: Int, labels: [UInt8])] = []
        for v in BatchSharding.share(Array(0..<count), rank: world.rank, size: world.size) {
            let volume = data.test.volumes[v]
            log.info("box baseline: \(volume.name), \(volume.depth) slices of \(volume.height) x \(volume.width)")
            mine.append((v, try baseline.predictVolume(volume, classes: config.data.classes)))
        }
        guard let maps = try LabelMapGather.gather(mine, count: count, comm: world) else { return nil }
        let result = try writeSeedResults(seed: seed, volumes: Array(data.test.volumes.prefix(count)), maps: maps)
        return try writeSummary([result], metrics: metrics)
    }
}
