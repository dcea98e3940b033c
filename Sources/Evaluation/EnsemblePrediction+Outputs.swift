import Collectives
import Config
import Datasets
import Embeddings
import Foundation
import Metrics
import Runs

extension EnsemblePrediction {
    /// Segments the NIfTI files `inputs` (no labels) and writes, for each, `<out>/<name>.nii.gz`
    /// (uint8 labels with the input's header and affine) and, when asked,
    /// `<out>/<name>_uncertainty.nii.gz` (float32, same geometry). Every rank reads every input;
    /// the coordinator writes (only after every volume is predicted) and returns the files.
    public func predictFiles(_ inputs: [URL], to out: URL, comm: Communicator, uncertainty: EnsembleUncertainty?,
                             encoderFactory: (ExperimentConfig) throws -> SliceEncoder,
                             progress: @escaping (Int, Volume) -> Void = { _, _ in }) throws -> [URL] {
        let volumes = try RunPrediction.readInputs(inputs, out: out,
                                                   suffixes: uncertainty == nil ? [""] : ["", Self.uncertaintySuffix])
        let set = SliceSet(volumes: volumes)
        guard let predictions = try predict(set, comm: comm, uncertainty: uncertainty, encoderFactory: encoderFactory,
                                            progress: { progress($0, volumes[$0]) }) else { return [] }
        try RunPrediction.createFolder(out)
        return try Self.writeMaps(predictions, volumes: volumes, to: out)
    }

    /// Segments the run's test split (`split.json`, the data under `data.root`) and scores it as
    /// training's test does. The coordinator, holding the run's `RunLock`, writes the maps to
    /// `<run>/ensemble/predictions/`, then `<run>/ensemble/test_volumes.csv` and
    /// `<run>/ensemble_summary.json`, and returns the summary (nil on other ranks).
    public func evaluateTestSplit(comm: Communicator, uncertainty: EnsembleUncertainty?,
                                  encoderFactory: (ExperimentConfig) throws -> SliceEncoder,
                                  progress: @escaping (Int, Volume) -> Void = { _, _ in }) throws -> EnsembleSummary? {
        let set = try testSet()
        let lock = comm.isCoordinator ? try RunLock(folder: run) : nil
        defer { lock?.release() }
        guard let predictions = try predict(set, comm: comm, uncertainty: uncertainty, encoderFactory: encoderFactory,
                                            progress: { progress($0, set.volumes[$0]) }) else { return nil }
        let classes = config.data.classes
        var ensembleScores: [VolumeScores] = []
        var seedScores = [[VolumeScores]](repeating: [], count: members.count)
        for (volume, prediction) in zip(set.volumes, predictions) {
            guard let score = volume.scores(of: prediction.labels, classes: classes) else {
                throw RunFileError(path: volume.imageFile, message: "test volume without labels")
            }
            ensembleScores.append(score)
            for (s, labels) in prediction.seedLabels.enumerated() {
                seedScores[s].append(volume.scores(of: labels, classes: classes)!)
            }
        }
        let names = config.classNames
        let summary = EnsembleSummary(
            name: config.name, members: summaryMembers, uncertainty: uncertainty, volumes: set.volumes.map(\.name),
            ensemble: ScoreSummary(volumes: ensembleScores, classNames: names, mode: .standard),
            perSeed: seedScores.map { ScoreSummary(volumes: $0, classNames: names, mode: .standard) })
        let folder = run.appendingPathComponent(EnsembleSummary.folderName).appendingPathComponent("predictions")
        try RunPrediction.createFolder(folder)
        _ = try Self.writeMaps(predictions, volumes: set.volumes, to: folder)
        for volume in set.volumes where uncertainty == nil {      // no stale maps of an earlier ensemble
            try? FileManager.default.removeItem(at: folder.appendingPathComponent(volume.name + Self.uncertaintySuffix
                                                                                + ".nii.gz"))
        }
        try summary.write(scores: ensembleScores, classNames: names, run: run)
        return summary
    }

    /// The volumes of the run's test split, loaded (and z-scored) as training loaded them.
    public func testSet() throws -> SliceSet {
        let splitFile = run.appendingPathComponent("split.json")
        guard FileManager.default.fileExists(atPath: splitFile.path) else {
            throw RunFileError(path: splitFile.path, message: "no split file: the run's test split is unknown "
                               + "(give --input and --out to segment other volumes)")
        }
        let split = try SplitPlan.read(splitFile).fold(config.data.fold)
        guard !split.test.isEmpty else {
            throw RunFileError(path: splitFile.path, message: "fold \(config.data.fold) has no test patients")
        }
        let layout = config.data.layout == .auto ? nil : DatasetLayout(rawValue: config.data.layout.rawValue)
        let index = try DatasetIndex.scan(URL(fileURLWithPath: config.data.root), layout: layout)
        return try SliceSet(index: index, patients: split.test, classes: config.data.classes)
    }

    /// Suffix of an uncertainty map's name: `<name>_uncertainty.nii.gz`.
    public static let uncertaintySuffix = "_uncertainty"

    /// Writes each volume's labels (uint8) and uncertainty map (float32), when there is one,
    /// with the volume's geometry into `folder`, each atomically; returns the files.
    static func writeMaps(_ predictions: [EnsembleVolumePrediction], volumes: [Volume],
                          to folder: URL) throws -> [URL] {
        var written: [URL] = []
        for (volume, prediction) in zip(volumes, predictions) {
            let labels = volume.prediction(prediction.labels)
            written.append(folder.appendingPathComponent(volume.name + ".nii.gz"))
            try labels.write(to: written.last!)
            if let map = prediction.uncertainty {
                written.append(folder.appendingPathComponent(volume.name + uncertaintySuffix + ".nii.gz"))
                try labels.replacingData(map, datatype: .float32).write(to: written.last!)
            }
        }
        return written
    }
}
