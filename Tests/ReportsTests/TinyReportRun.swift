import Collectives
import Config
import Datasets
import Embeddings
import Experiments
import Foundation
import Metrics

/// One real run folder for the report tests: a tiny UNet (identity "encoder", no SAM) trained
/// for a few epochs and two seeds on three phantom patients at half resolution, through the
/// unchanged `Experiment` on one process, as `autosam train` does. Built once per test process.
enum TinyReportRun {
    static let epochs = 3

    static let shared: (folder: URL, config: ExperimentConfig) = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("report-tests-\(UUID().uuidString)")
        let data = dir.appendingPathComponent("data")
        try! Phantom.writeDataset(to: data, patients: 3, seed: 0, inPlaneScale: 0.5)
        var c = ExperimentConfig()
        c.name = "tiny-report"
        c.data.layout = .acdc
        c.data.root = data.path
        c.data.train_size = 1
        c.data.slice_size = 32
        c.data.augmentation = .none
        c.head.kind = .unet
        c.head.depth = 2
        c.head.channels = 4
        c.optim.epochs = epochs
        c.optim.lr = 0.01
        c.optim.scheduler = .none
        c.seeds = [0, 1]
        c.cache.enabled = false
        c.output.dir = dir.appendingPathComponent("runs/tiny").path
        c.output.keep_checkpoints = 1
        c.run.progress_every = 1000
        let experiment = Experiment(config: c, world: SingleProcessCommunicator()) { try SliceEncoders.make($0) }
        let lock = try! experiment.openRunFolder()
        try! experiment.run(holding: lock)
        return (experiment.outputDir, c)
    }()

    /// A copy of the shared run in a fresh folder `<tmp>/<uuid>/<name>` (`name` may hold a
    /// subfolder), to damage or edit.
    static func copy(named name: String = "tiny") throws -> URL {
        let target = FileManager.default.temporaryDirectory.appendingPathComponent("report-copy-\(UUID().uuidString)")
            .appendingPathComponent(name)
        try FileManager.default.createDirectory(at: target.deletingLastPathComponent(),
                                                withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: shared.folder, to: target)
        return target
    }

    /// The per-volume mean Dice of a `test_volumes.csv`, read independently of the report code.
    static func meanDice(csv url: URL) throws -> [String: Double] {
        let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n").dropFirst()
        var sums: [String: (Double, Int)] = [:]
        for line in lines {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            let (s, n) = sums[String(fields[0])] ?? (0, 0)
            sums[String(fields[0])] = (s + Double(fields[2])!, n + 1)
        }
        return sums.mapValues { $0.0 / Double($0.1) }
    }
}
