import TensorFiles
import Config
import Datasets
import Embeddings
import Foundation
import Metrics
import Runs
import Training

/// Scores a folder of predicted label volumes against a folder of reference labels (`autosam
/// evaluate --predictions --labels`), so any method's output can be compared with ours.
///
/// Matching is by file name (`.nii` or `.nii.gz` either side):
/// - predictions: the NIfTI files directly in the folder; `<name>.nii.gz` or `<name>_pred.nii.gz`;
/// - labels: when the label folder or its subfolders hold any `*_gt` file (the ACDC layout, where
///   images and labels share patient folders), exactly the `<name>_gt` files are labels;
///   otherwise every NIfTI file directly in the folder is a label `<name>`.
/// Every prediction needs its label (else an error names the prediction and the names tried);
/// labels without a prediction are left out and listed. Two files with one name on either side
/// are an error. Each pair must have the same (D, H, W); spacing comes from the label's header.
public struct FolderEvaluation {
    public struct Pair: Equatable {
        public let name: String
        public let prediction: URL
        public let label: URL
    }

    public let pairs: [Pair]
    /// Names of label volumes that have no prediction (not scored).
    public let unmatchedLabels: [String]

    public static func match(predictions: URL, labels: URL) throws -> FolderEvaluation {
        let predicted = try index(try NIfTIStack.files(in: predictions), suffix: "_pred", folder: predictions)
        guard !predicted.isEmpty else {
            throw DatasetError(file: predictions.path, .emptyFolder, "no .nii or .nii.gz prediction files")
        }
        let groundTruth = try NIfTIStack.files(in: labels, recursive: true)
            .filter { NIfTIStack.stem($0.lastPathComponent)!.hasSuffix("_gt") }
        let labelFiles = groundTruth.isEmpty ? try NIfTIStack.files(in: labels) : groundTruth
        let reference = try index(labelFiles, suffix: "_gt", folder: labels)
        let pairs = try predicted.keys.sorted().map { name -> Pair in
            guard let label = reference[name] else {
                throw DatasetError(file: predicted[name]!.path, .missingFile,
                                   "no label for '\(name)' in \(labels.path) "
                                   + "(looked for \(name)_gt.nii[.gz] and \(name).nii[.gz])")
            }
            return Pair(name: name, prediction: predicted[name]!, label: label)
        }
        return FolderEvaluation(pairs: pairs, unmatchedLabels: Set(reference.keys).subtracting(predicted.keys).sorted())
    }

    /// Volume name -> file, the name being the stem without `suffix`.
    private static func index(_ files: [URL], suffix: String, folder: URL) throws -> [String: URL] {
        var out: [String: URL] = [:]
        for url in files {
            var name = NIfTIStack.stem(url.lastPathComponent)!
            if name.hasSuffix(suffix) && name.count > suffix.count { name.removeLast(suffix.count) }
            if let other = out[name] {
                throw DatasetError(file: url.path, .inconsistent,
                                   "volume name '\(name)' is also given by \(other.lastPathComponent) "
                                   + "in \(folder.path); keep one")
            }
            out[name] = url
        }
        return out
    }

    /// Scores every pair (`classes` K including background). Predictions and labels must hold
    /// integers in 0..<K.
    public func evaluate(classes: Int, mode: EvaluationMode,
                         progress: (Pair) -> Void = { _ in }) throws -> [VolumeScores] {
        try pairs.map { pair in
            progress(pair)
            let prediction = try NIfTIStack(contentsOf: pair.prediction), label = try NIfTIStack(contentsOf: pair.label)
            guard prediction.shape == label.shape else {
                throw DatasetError(file: pair.prediction.path, .shapeMismatch,
                                   "prediction is \(prediction.shape.map(String.init).joined(separator: "x")) "
                                   + "(D x H x W), label \(pair.label.path) "
                                   + "is \(label.shape.map(String.init).joined(separator: "x"))")
            }
            let s = label.spacing
            return VolumeEvaluator.evaluate(
                name: pair.name, prediction: try prediction.classIndices(classes: classes),
                reference: try label.classIndices(classes: classes),
                shape: VolumeShape(z: label.depth, y: label.height, x: label.width),
                spacing: VoxelSpacing(z: s.slice, y: s.row, x: s.column), classCount: classes, mode: mode)
        }
    }
}

/// What `evaluate --predictions --labels` writes as `summary.json`: where the files came from,
/// which volumes were scored, and the per-class statistics over them.
public struct FolderEvaluationReport: Codable {
    public let predictions: String
    public let labels: String
    public let classes: Int
    /// Names of labels 1..<classes (the tables', CSV's and JSON's).
    public let classNames: [String]
    public let volumes: [String]
    public let unmatchedLabels: [String]
    public let summary: ScoreSummary

    /// `classNames` default to `ExperimentConfig.defaultClassNames(classes)`.
    public init(_ evaluation: FolderEvaluation, predictions: URL, labels: URL, classes: Int, mode: EvaluationMode,
                scores: [VolumeScores], classNames: [String]? = nil) {
        self.predictions = predictions.path
        self.labels = labels.path
        self.classes = classes
        self.classNames = classNames ?? ExperimentConfig.defaultClassNames(classes)
        volumes = scores.map(\.name)
        unmatchedLabels = evaluation.unmatchedLabels
        summary = ScoreSummary(volumes: scores, classNames: self.classNames, mode: mode)
    }

    /// Writes `volumes.csv` (one row per volume and class) and `summary.json` into `folder`, each
    /// atomically, after everything has been computed.
    public static func write(_ report: FolderEvaluationReport, scores: [VolumeScores], to folder: URL) throws {
        do { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) } catch {
            throw DatasetError(file: folder.path, .io,
                               "cannot create the output folder (\(error.localizedDescription))")
        }
        let csv = ScoreCSV.perVolume(scores, classNames: report.classNames)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(Data(csv.utf8), to: folder.appendingPathComponent("volumes.csv"))
        try AtomicFile.write(try encoder.encode(report), to: folder.appendingPathComponent("summary.json"))
    }
}
