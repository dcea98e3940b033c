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

    public func progress(seed: Int, epoch: Int, step: Int, of total: Int, loss: Double, since start: Date) {
        let elapsed = Date().timeIntervalSince(start)
        let eta = elapsed / Double(step) * Double(total - step)
        info(String(format: "seed %d epoch %d step %d/%d loss %.4f  %.2f steps/s  ETA epoch %.0fs",
                    seed, epoch + 1, step, total, loss, Double(step) / max(elapsed, 1e-9), eta))
    }

    public func epoch(_ r: EpochRecord, of epochs: Int) {
        let validation = r.validationDice.map { String(format: "%.4f", $0) } ?? "-"
        info(String(format: "seed %d epoch %d/%d  train %.4f (ce %.4f dice %.4f)  val dice ", r.seed, r.epoch, epochs,
                    r.trainLoss, r.trainCE, r.trainDice) + validation + String(format: "  lr %.2e  %.1fs", Double(r.lr), r.seconds))
        append(r)
    }

    /// Appends `record` as one JSON line to `metricsFile` (when there is one).
    public func append<Record: Encodable>(_ record: Record) {
        guard let metricsFile else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard var line = try? encoder.encode(record) else { return }
        line.append(0x0A)
        if let handle = try? FileHandle(forWritingTo: metricsFile) {
            handle.seekToEndOfFile()
            handle.write(line)
            try? handle.close()
        } else {
            try? line.write(to: metricsFile)
        }
    }
}
