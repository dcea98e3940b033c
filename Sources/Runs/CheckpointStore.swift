import TensorFiles
import Config
import Foundation
import Tensors

/// The coordinator's checkpoint folder of one seed:
///
///     <root>/epoch_0007/{head.safetensors, optimizer.safetensors, state.json, COMPLETE}
///
/// A checkpoint is written into a hidden temporary folder, each file flushed, the folder renamed
/// into place, and only then the `COMPLETE` marker written. `state.json` holds the SHA-256 of each
/// tensor file and the marker holds the SHA-256 of `state.json`, so nothing is trusted unverified:
/// a folder without the marker, an edited `state.json` (even valid JSON), a missing or emptied
/// checksum, or a damaged tensor file is never used. The last `keep` complete checkpoints and the
/// best one are kept; older ones are deleted, and temporary folders left by a failed write are
/// removed by the next write (one run owns a folder at a time, `RunLock`).
public struct CheckpointStore {
    public let root: URL
    public let keep: Int
    static let marker = "COMPLETE"
    /// The tensor files every checkpoint has, each with a checksum in `state.json`.
    static let tensorFiles = ["head.safetensors", "optimizer.safetensors"]

    public init(root: URL, keep: Int) {
        self.root = root
        self.keep = keep
    }

    public func folder(epoch: Int) -> URL { folder(CheckpointName(epoch: epoch)) }
    public func folder(_ name: CheckpointName) -> URL { root.appendingPathComponent(name.folderName) }

    public func write(_ checkpoint: TrainingCheckpoint) throws {
        let fm = FileManager.default
        let final = folder(checkpoint.name)
        let tmp = root.appendingPathComponent(".tmp-\(final.lastPathComponent)-\(getpid())")
        try fm.createDirectory(at: root, withIntermediateDirectories: true)
        for leftover in try fm.contentsOfDirectory(atPath: root.path) where leftover.hasPrefix(".tmp-epoch_") {
            try fm.removeItem(at: root.appendingPathComponent(leftover))
        }
        try fm.createDirectory(at: tmp, withIntermediateDirectories: true)
        let head = tmp.appendingPathComponent("head.safetensors")
        let optimizer = tmp.appendingPathComponent("optimizer.safetensors")
        try SafeTensorsFile.write(checkpoint.params.map { ("params/" + $0.0, $0.1) }
                                  + checkpoint.frozen.map { ("frozen/" + $0.0, $0.1) },
                                  to: head)
        try SafeTensorsFile.write([("exp_avg", Tensor(shape: [checkpoint.adamM.count], data: checkpoint.adamM)),
                                   ("exp_avg_sq", Tensor(shape: [checkpoint.adamV.count], data: checkpoint.adamV))],
                                  to: optimizer)
        var state = checkpoint.state
        state.checksums = ["head.safetensors": try SHA256.hexDigest(ofFile: head),
                           "optimizer.safetensors": try SHA256.hexDigest(ofFile: optimizer)]
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf",
                                                                      negativeInfinity: "-inf", nan: "nan")
        let stateData = try encoder.encode(state)
        try AtomicFile.write(stateData, to: tmp.appendingPathComponent("state.json"))
        try? fm.removeItem(at: final)
        guard rename(tmp.path, final.path) == 0 else {
            throw RunFileError(path: final.path, message: "cannot move the checkpoint into place (errno \(errno))")
        }
        try AtomicFile.write(Data((Self.digest(stateData) + "\n").utf8), to: final.appendingPathComponent(Self.marker))
        try prune(best: state.bestEpoch, newest: checkpoint.name)
    }

    /// Hex SHA-256 of `data` (what the marker records of `state.json`).
    static func digest(_ data: Data) -> String {
        SHA256.hexString(data.withUnsafeBytes { SHA256.digest($0) })
    }

    /// Complete checkpoints (folders with the marker), oldest first.
    public func complete() -> [CheckpointName] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        return names.compactMap { name -> CheckpointName? in
            guard let c = CheckpointName(folderName: name),
                  FileManager.default.fileExists(atPath: folder(c).appendingPathComponent(Self.marker).path) else {
                return nil
            }
            return c
        }.sorted()
    }

    /// Epochs of the complete epoch-boundary checkpoints, oldest first.
    public func completeEpochs() -> [Int] { complete().filter(\.isEpochBoundary).map(\.epoch) }

    /// Reads and verifies the checkpoint of `epoch` (marker, checksums, tensor files).
    public func read(epoch: Int) throws -> TrainingCheckpoint { try read(CheckpointName(epoch: epoch)) }

    public func read(_ name: CheckpointName) throws -> TrainingCheckpoint { try readFiles(name).verified() }

    public func readFiles(epoch: Int) throws -> CheckpointFiles { try readFiles(CheckpointName(epoch: epoch)) }

    /// The raw files of the checkpoint `name`, unverified (`CheckpointFiles.verified()` checks
    /// them); what the coordinator broadcasts so other ranks never read the run folder.
    public func readFiles(_ name: CheckpointName) throws -> CheckpointFiles {
        let dir = folder(name)
        guard FileManager.default.fileExists(atPath: dir.appendingPathComponent(Self.marker).path) else {
            throw RunFileError(path: dir.path, message: "incomplete checkpoint (no \(Self.marker) marker)")
        }
        var files: [String: Data] = [:]
        for name in ["state.json", Self.marker] + Self.tensorFiles {
            let url = dir.appendingPathComponent(name)
            guard let data = try? Data(contentsOf: url) else {
                if name == "state.json" { throw RunFileError(path: url.path, message: "unreadable training state") }
                continue          // a missing tensor file fails its checksum in `verified()`
            }
            files[name] = data
        }
        return CheckpointFiles(folder: dir.path, files: files)
    }

    /// The newest checkpoint that reads and verifies; damaged ones are reported in `skipped`.
    public func latestValid() -> (checkpoint: TrainingCheckpoint?, skipped: [String]) {
        var skipped: [String] = []
        for name in complete().reversed() {
            do { return (try read(name), skipped) } catch { skipped.append("\(error)") }
        }
        return (nil, skipped)
    }

    /// After writing `newest`: mid-epoch checkpoints older than it are deleted (they only serve
    /// to continue from the newest point), and of the epoch checkpoints the last `keep` and the
    /// best are kept.
    private func prune(best: Int, newest: CheckpointName) throws {
        let all = complete()
        for c in all where !c.isEpochBoundary && c < newest {
            try FileManager.default.removeItem(at: folder(c))
        }
        for c in all.filter(\.isEpochBoundary).dropLast(keep) where c.epoch != best {
            try FileManager.default.removeItem(at: folder(c))
        }
    }
}
