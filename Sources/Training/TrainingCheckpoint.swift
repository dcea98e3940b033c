import Checkpoints
import Collectives
import Datasets
import Foundation
import Heads
import Optim
import Tensors

/// Everything needed to continue a seed's training exactly (DESIGN §4.7): head parameters and
/// frozen buffers, Adam moments and step, counters, scheduler, best validation loss, and the
/// identity of the run (resolved config, split, seed, world size).
public struct TrainingCheckpoint {
    public struct State: Codable, Equatable {
        public var epoch: Int          // epochs completed
        public var step: Int           // optimiser steps completed
        /// The steps already done of epoch `epoch + 1` when the checkpoint was taken mid-epoch
        /// (preemption, `output.checkpoint_every_steps`/`_minutes`); nil at an epoch boundary.
        public var partialEpoch: PartialEpoch? = nil
        public var lr: Float
        public var scheduler: ReduceLROnPlateau
        public var bestValidationLoss: Double
        public var bestEpoch: Int
        public var lastTrainingLoss: Double
        public var seed: Int
        public var worldSize: Int
        public var config: ExperimentConfig
        public var splitPatients: [String: [String]]
        /// `SliceSets.identity` of the data the run trained on (nil in checkpoints of pretraining).
        public var dataIdentity: String? = nil
        public var adamStep: Int
        public var adam: AdamSettings
        /// SHA-256 of each tensor file of the checkpoint.
        public var checksums: [String: String] = [:]
    }

    /// Progress through an epoch: steps done and the sums its record averages.
    public struct PartialEpoch: Codable, Equatable {
        public var steps = 0
        public var loss = 0.0, crossEntropy = 0.0, dice = 0.0
        /// Wall seconds spent on those steps (so the epoch record's time covers the whole epoch).
        public var seconds = 0.0
        public init() {}
    }

    /// The checkpoint's position: epochs completed and steps of the next one.
    public var name: CheckpointName { CheckpointName(epoch: state.epoch, steps: state.partialEpoch?.steps ?? 0) }

    public struct AdamSettings: Codable, Equatable {
        public var lr: Float, beta1: Float, beta2: Float, eps: Float
    }

    public var state: State
    public var params: [(String, Tensor)]      // trainable, by state-dict name
    public var frozen: [(String, Tensor)]      // frozen parameters and buffers
    public var adamM: [Float]
    public var adamV: [Float]

    public init(state: State, params: [(String, Tensor)], frozen: [(String, Tensor)], adamM: [Float], adamV: [Float]) {
        self.state = state
        self.params = params
        self.frozen = frozen
        self.adamM = adamM
        self.adamV = adamV
    }

    /// A trainer's checkpoint: its parameters, frozen buffers, Adam moments and settings, and
    /// `state` (whose Adam fields are taken from `trainable`).
    public init(trainable: TrainableState, frozen: FrozenState, epoch: Int, step: Int, scheduler: ReduceLROnPlateau,
         bestValidationLoss: Double, bestEpoch: Int, lastTrainingLoss: Double, seed: Int, worldSize: Int,
         config: ExperimentConfig, split: Split) {
        let a = trainable.adam
        let state = State(epoch: epoch, step: step, lr: a.lr, scheduler: scheduler, bestValidationLoss: bestValidationLoss,
                          bestEpoch: bestEpoch, lastTrainingLoss: lastTrainingLoss, seed: seed, worldSize: worldSize,
                          config: config, splitPatients: ["train": split.train, "val": split.val, "test": split.test],
                          adamStep: a.step, adam: .init(lr: a.lr, beta1: a.beta1, beta2: a.beta2, eps: a.eps))
        self.init(state: state, params: trainable.layout.names.map { ($0, trainable.parameter($0)) },
                  frozen: frozen.layout.names.map { ($0, frozen.tensor($0)) }, adamM: a.m, adamV: a.v)
    }

    /// The trainable state this checkpoint continues: its tensors over `current` (same layout)
    /// and its Adam moments, step and settings.
    func trainableState(continuing current: TrainableState) throws -> TrainableState {
        let s = state
        let adam = Adam(lr: s.lr, beta1: s.adam.beta1, beta2: s.adam.beta2, eps: s.adam.eps, m: adamM, v: adamV, step: s.adamStep)
        let values = try current.layout.filling(current.params, with: params, what: "checkpoint tensor")
        return TrainableState(layout: current.layout, params: values, adam: adam)
    }
}

extension ParameterLayout {
    /// `values` (laid out by this layout) with the named tensors written over their entries; a
    /// name this layout lacks or a shape that differs is an error naming the tensor.
    func filling(_ values: [Float], with tensors: [(String, Tensor)], what: String) throws -> [Float] {
        var out = values
        for (name, t) in tensors {
            guard let e = entry(name), e.shape == t.shape else {
                throw RunFileError(path: name, message: "\(what) \(t.shape) does not fit this model")
            }
            out.replaceSubrange(e.offset ..< e.offset + e.count, with: t.data)
        }
        return out
    }
}

/// A problem with a file or folder of a run (checkpoint, prediction input, inspected file),
/// naming the path and what was wrong.
public struct RunFileError: Error, CustomStringConvertible {
    public let path: String
    public let message: String
    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }
    public var description: String { "\(path): \(message)" }
}

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
        let head = tmp.appendingPathComponent("head.safetensors"), optimizer = tmp.appendingPathComponent("optimizer.safetensors")
        try SafeTensorsFile.write(checkpoint.params.map { ("params/" + $0.0, $0.1) } + checkpoint.frozen.map { ("frozen/" + $0.0, $0.1) },
                                  to: head)
        try SafeTensorsFile.write([("exp_avg", Tensor(shape: [checkpoint.adamM.count], data: checkpoint.adamM)),
                                   ("exp_avg_sq", Tensor(shape: [checkpoint.adamV.count], data: checkpoint.adamV))], to: optimizer)
        var state = checkpoint.state
        state.checksums = ["head.safetensors": try SHA256.hexDigest(ofFile: head),
                           "optimizer.safetensors": try SHA256.hexDigest(ofFile: optimizer)]
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
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
                  FileManager.default.fileExists(atPath: folder(c).appendingPathComponent(Self.marker).path) else { return nil }
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

/// Where in training a checkpoint was taken, and its folder name (the one parser of it):
/// `epoch_0007` after 7 complete epochs, `epoch_0007_step_00012` after 12 steps of the 8th.
/// Ordered by (epoch, steps).
public struct CheckpointName: Comparable, Hashable, CustomStringConvertible {
    /// Epochs completed.
    public let epoch: Int
    /// Steps done of the next epoch (0 at an epoch boundary).
    public let steps: Int

    public init(epoch: Int, steps: Int = 0) {
        precondition(epoch >= 0 && steps >= 0, "negative checkpoint position")
        self.epoch = epoch
        self.steps = steps
    }

    /// Parses a folder name; nil for anything else (also for stray characters or signs).
    public init?(folderName: String) {
        let parts = folderName.split(separator: "_", omittingEmptySubsequences: false)
        func number(_ s: Substring) -> Int? { s.isEmpty || !s.allSatisfy(\.isASCII) || !s.allSatisfy(\.isNumber) ? nil : Int(s) }
        if parts.count == 2, parts[0] == "epoch", let e = number(parts[1]) {
            self.init(epoch: e)
        } else if parts.count == 4, parts[0] == "epoch", parts[2] == "step", let e = number(parts[1]), let s = number(parts[3]), s > 0 {
            self.init(epoch: e, steps: s)
        } else {
            return nil
        }
    }

    public var isEpochBoundary: Bool { steps == 0 }

    public var folderName: String {
        String(format: "epoch_%04d", epoch) + (steps == 0 ? "" : String(format: "_step_%05d", steps))
    }

    public var description: String {
        steps == 0 ? "epoch \(epoch)" : "epoch \(epoch) + \(steps) steps"
    }

    public static func < (a: Self, b: Self) -> Bool { (a.epoch, a.steps) < (b.epoch, b.steps) }
}

/// A checkpoint folder's files as bytes: read by the coordinator, verified anywhere, and sent to
/// the other ranks as one message (DESIGN §4.7: ranks resume from the state the coordinator
/// chose and verified, whatever their own view of the run folder).
public struct CheckpointFiles: Equatable {
    /// The folder the files came from (named in errors).
    public let folder: String
    /// File name -> contents: state.json, COMPLETE and the tensor files that exist.
    public let files: [String: Data]

    /// Verifies the marker (SHA-256 of state.json, byte for byte), that every tensor file has a
    /// checksum in the state and matches it, and decodes the checkpoint.
    public func verified() throws -> TrainingCheckpoint {
        let marker = CheckpointStore.marker
        let statePath = folder + "/state.json"
        let stateData = files["state.json"] ?? Data()
        let recorded = files[marker].map { String(decoding: $0, as: UTF8.self) } ?? ""
        guard recorded == CheckpointStore.digest(stateData) + "\n" else {      // exactly as written
            throw RunFileError(path: statePath, message: recorded.count == 65
                ? "checksum mismatch with the \(marker) marker: the training state was edited or damaged"
                : "the \(marker) marker holds no checksum of state.json (written by an older version?): not trusted")
        }
        let state: TrainingCheckpoint.State
        do {
            let decoder = JSONDecoder()
            decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            state = try decoder.decode(TrainingCheckpoint.State.self, from: stateData)
        } catch {
            throw RunFileError(path: statePath, message: "unreadable training state (\(error))")
        }
        if let missing = CheckpointStore.tensorFiles.first(where: { state.checksums[$0] == nil }) {
            throw RunFileError(path: statePath, message: "no checksum for \(missing): not trusted")
        }
        for (file, expected) in state.checksums.sorted(by: { $0.key < $1.key }) {
            let actual = files[file].map(CheckpointStore.digest) ?? "missing"
            guard actual == expected else {
                throw RunFileError(path: folder + "/" + file, message: "checksum mismatch (expected \(expected), found \(actual)): the file is damaged")
            }
        }
        let head = try SafeTensorsFile(bytes: files["head.safetensors"] ?? Data(), path: folder + "/head.safetensors")
        let optimizer = try SafeTensorsFile(bytes: files["optimizer.safetensors"] ?? Data(), path: folder + "/optimizer.safetensors")
        let params = try head.names.filter { $0.hasPrefix("params/") }.map { (String($0.dropFirst(7)), try head.tensor($0)) }
        let frozen = try head.names.filter { $0.hasPrefix("frozen/") }.map { (String($0.dropFirst(7)), try head.tensor($0)) }
        return TrainingCheckpoint(state: state, params: params, frozen: frozen,
                                  adamM: try optimizer.tensor("exp_avg").data, adamV: try optimizer.tensor("exp_avg_sq").data)
    }

    /// One message: the folder, then each (name, contents), all length-prefixed (`MessageWriter`).
    public func serialized() -> [UInt8] {
        var out = MessageWriter()
        out.put(folder)
        for (name, data) in files.sorted(by: { $0.key < $1.key }) {
            out.put(name)
            out.put(data)
        }
        return out.bytes
    }

    /// The inverse of `serialized()`; nil for a malformed message.
    public init?(serialized bytes: [UInt8]) {
        var reader = MessageReader(bytes, what: "checkpoint")
        guard let folder = try? reader.string() else { return nil }
        var files: [String: Data] = [:]
        while !reader.isAtEnd {
            guard let name = try? reader.string(), let data = try? reader.data() else { return nil }
            files[name] = data
        }
        self.init(folder: folder, files: files)
    }

    public init(folder: String, files: [String: Data]) {
        self.folder = folder
        self.files = files
    }
}
