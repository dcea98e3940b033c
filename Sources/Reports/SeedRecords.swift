import Foundation
import Metrics

/// One epoch of `seed_<s>/metrics.jsonl` as the report reads it. Only `epoch` is required: a
/// key an older run did not write reads as nil and its curve is marked "not recorded".
public struct EpochPoint: Decodable, Equatable {
    public var epoch: Int
    public var step: Int?
    public var trainLoss: Double?
    public var trainCE: Double?
    public var trainDice: Double?
    public var validationDice: Double?
    public var lr: Double?
    public var seconds: Double?
    /// `seed_<s>/pretrain/metrics.jsonl` (SimCLR): the NT-Xent loss.
    public var loss: Double?
}

/// What the report reads of one seed: its epoch log, its test scores, its predictions folder.
public struct SeedRecords {
    public let seed: Int
    public let folder: URL
    /// One point per epoch, in epoch order (a resumed run's repeated epoch keeps its last line);
    /// empty for runs that train nothing (`sam_box`).
    public let epochs: [EpochPoint]
    /// SimCLR pretraining epochs (empty without pretraining).
    public let pretraining: [EpochPoint]
    /// Test volumes in file order.
    public let volumes: [VolumeScores]

    /// Reads `<run>/seed_<seed>/`; `trained` says whether `metrics.jsonl` must exist.
    public static func read(run: URL, seed: Int, classNames: [String], trained: Bool) throws -> SeedRecords {
        let folder = run.appendingPathComponent("seed_\(seed)")
        let metrics = folder.appendingPathComponent("metrics.jsonl")
        let pretrain = folder.appendingPathComponent("pretrain/metrics.jsonl")
        let exists = { (url: URL) in FileManager.default.fileExists(atPath: url.path) }
        return SeedRecords(
            seed: seed, folder: folder,
            epochs: trained || exists(metrics) ? try readEpochs(metrics) : [],
            pretraining: exists(pretrain) ? try readEpochs(pretrain) : [],
            volumes: try VolumeCSV.read(folder.appendingPathComponent("test_volumes.csv"), classNames: classNames))
    }

    /// The JSON lines of `url`, one object per epoch; a line that is not a JSON object (a file
    /// cut short while being written) is an error naming the file and line.
    static func readEpochs(_ url: URL) throws -> [EpochPoint] {
        let text = try readText(url, what: "the per-epoch training log")
        var byEpoch: [Int: EpochPoint] = [:]
        let decoder = JSONDecoder()
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            do {
                let point = try decoder.decode(EpochPoint.self, from: Data(trimmed.utf8))
                byEpoch[point.epoch] = point
            } catch {
                throw ReportError(path: url.path, message: "line \(n + 1) is not a complete epoch record "
                                  + "(\(trimmed.prefix(60))...): the file is damaged or was cut short; "
                                  + "run `autosam train --resume auto` to finish the run, or repair the line")
            }
        }
        return byEpoch.keys.sorted().map { byEpoch[$0]! }
    }

    static func readText(_ url: URL, what: String) throws -> String {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw ReportError(path: url.path, message: "missing: \(what) (is this a finished `autosam train` run?)")
        }
        guard let data = try? Data(contentsOf: url) else {
            throw ReportError(path: url.path, message: "cannot read \(what)")
        }
        return String(decoding: data, as: UTF8.self)
    }
}
