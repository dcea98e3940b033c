import Embeddings
import Foundation
import Runs
import TensorFiles
import Tensors

/// Where a run's results came from (`<run>/provenance.json`, written by the coordinator at the
/// end of `train`): the software, the machine, the encoder weights and the wall time per phase.
/// Runs made before this file existed have none; readers treat every field as "not recorded".
public struct RunProvenance: Codable, Equatable {
    /// One timed stage of `train`, in order.
    public struct Phase: Codable, Equatable {
        public var name: String
        public var seconds: Double
        public init(name: String, seconds: Double) {
            self.name = name
            self.seconds = seconds
        }
    }

    /// `git rev-parse HEAD` of the source folder (with `-modified` when tracked files differ from
    /// it), or "unknown" when the binary's source folder is not a git checkout.
    public var software: String
    public var started: String
    public var finished: String
    public var ranks: Int
    public var host: String
    public var cpuModel: String
    /// OpenBLAS kernel family in use (`BLASRuntime.selection`) and threads per rank.
    public var blasKernel: String
    public var blasThreads: Int
    /// What the encoder was (`SliceEncoders.describe`: checkpoint and checksum prefix, random
    /// weights, or none for the UNet).
    public var encoder: String
    /// Path and full SHA-256 of `encoder.checkpoint`; nil when the config names none.
    public var encoderCheckpoint: String?
    public var encoderSHA256: String?
    public var phases: [Phase]

    /// File name inside the run folder.
    public static let fileName = "provenance.json"

    /// Reads `<run>/provenance.json`; nil when the run did not record one. A damaged file is an
    /// error naming it.
    public static func read(run: URL) throws -> RunProvenance? {
        let url = run.appendingPathComponent(fileName)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        do { return try JSONDecoder().decode(RunProvenance.self, from: try Data(contentsOf: url)) } catch {
            throw RunFileError(path: url.path, message: "not a run provenance record (\(error))")
        }
    }
}

/// Wall-clock time of the stages of one `train` invocation, marked as each one ends.
public final class PhaseClock {
    public let started = Date()
    private var last: Date
    public private(set) var phases: [RunProvenance.Phase] = []

    public init() { last = started }

    /// Ends the current stage under `name`.
    public func mark(_ name: String) {
        let now = Date()
        phases.append(RunProvenance.Phase(name: name, seconds: now.timeIntervalSince(last)))
        last = now
    }
}

extension Experiment {
    /// Coordinator, at the end of `train`: writes `provenance.json` atomically.
    func writeProvenance(encoder: SliceEncoder, clock: PhaseClock) throws {
        let checkpoint = config.encoder.checkpoint
        let usesCheckpoint = !checkpoint.isEmpty && config.head.kind != .unet
        let iso = ISO8601DateFormatter()
        let record = RunProvenance(
            software: Self.sourceRevision(), started: iso.string(from: clock.started),
            finished: iso.string(from: Date()),
            ranks: world.size, host: Self.hostName, cpuModel: BLASRuntime.cpuModel,
            blasKernel: BLASRuntime.selection.description, blasThreads: BLASRuntime.threads,
            encoder: SliceEncoders.describe(encoder), encoderCheckpoint: usesCheckpoint ? checkpoint : nil,
            encoderSHA256: usesCheckpoint ? try SHA256.hexDigest(ofFile: URL(fileURLWithPath: checkpoint)) : nil,
            phases: clock.phases)
        let pretty = JSONEncoder()
        pretty.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try pretty.encode(record), to: outputDir.appendingPathComponent(RunProvenance.fileName))
    }

    /// The git commit of the source folder: `AUTOSAM_SOURCE_DIR` when set, else the package root
    /// this file was compiled from. "unknown" when that is not a git checkout or git is missing.
    static func sourceRevision() -> String {
        let root = ProcessInfo.processInfo.environment["AUTOSAM_SOURCE_DIR"].map { URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent()
        guard FileManager.default.fileExists(atPath: root.appendingPathComponent(".git").path),
              let head = git(["rev-parse", "HEAD"], in: root), head.count == 40 else { return "unknown" }
        let changes = git(["status", "--porcelain", "--untracked-files=no"], in: root)
        return changes?.isEmpty == false ? head + "-modified" : head
    }

    /// The trimmed output of `git -C root arguments`, nil when it fails.
    private static func git(_ arguments: [String], in root: URL) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git", "-C", root.path] + arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
