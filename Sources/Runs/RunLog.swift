import TensorFiles
import Config
import Foundation

/// Progress and metrics output of a run: human lines on standard output prefixed with the rank,
/// and one JSON line per epoch in `<dir>/metrics.jsonl` (coordinator only).
public final class RunLog {
    public let rank: Int
    public let metricsFile: URL?
    public let verbose: Bool

    public init(rank: Int, metricsFile: URL?, verbose: Bool = false) {
        self.rank = rank
        self.metricsFile = metricsFile
        self.verbose = verbose
    }

    public func info(_ text: String) {
        print("[rank \(rank)] \(text)")
        fflush(nil)
    }

    /// Timing detail, printed only in the single-node debug mode.
    public func debug(_ text: String) {
        if verbose { info(text) }
    }

    public func epoch(_ r: EpochRecord, of epochs: Int) throws {
        let validation = r.validationDice.map { String(format: "%.4f", $0) } ?? "-"
        info(String(format: "seed %d epoch %d/%d  train %.4f (ce %.4f dice %.4f)  val dice ", r.seed, r.epoch, epochs,
                    r.trainLoss, r.trainCE, r.trainDice)
             + validation + String(format: "  lr %.2e  %.1fs", Double(r.lr), r.seconds))
        try append(r)
    }

    /// Appends `record` as one JSON line to `metricsFile` (when there is one). A record that
    /// cannot be encoded or written (a full disk, a removed folder) is an error naming the file:
    /// a run whose metrics are lost does not carry on silently.
    public func append<Record: Encodable>(_ record: Record) throws {
        guard let metricsFile else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf",
                                                                      negativeInfinity: "-inf", nan: "nan")
        var line = try encoder.encode(record)
        line.append(0x0A)
        do {
            if !FileManager.default.fileExists(atPath: metricsFile.path) {
                guard FileManager.default.createFile(atPath: metricsFile.path, contents: nil) else {
                    throw RunFileError(path: metricsFile.path, message: "cannot create the metrics log")
                }
            }
            let handle = try FileHandle(forWritingTo: metricsFile)
            defer { try? handle.close() }
            try handle.seekToEnd()
            try handle.write(contentsOf: line)
            try handle.synchronize()
        } catch let error as RunFileError {
            throw error
        } catch {
            throw RunFileError(path: metricsFile.path,
                               message: "cannot append to the metrics log: \(error.localizedDescription)")
        }
    }

    /// Drops the records of epochs after `epoch` from `metricsFile` (what a resume from that
    /// epoch's checkpoint will log again), so every epoch appears once. Lines that are not
    /// records of this log are kept.
    public func keepRecords(throughEpoch epoch: Int) throws {
        guard let metricsFile, let text = try? String(contentsOf: metricsFile, encoding: .utf8) else { return }
        let kept = text.split(separator: "\n").filter { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let e = object["epoch"] as? Int else { return true }
            return e <= epoch
        }
        try AtomicFile.write(Data(kept.map { $0 + "\n" }.joined().utf8), to: metricsFile)
    }
}
