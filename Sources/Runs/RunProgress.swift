import Foundation

/// Whole-run progress with an ETA, printed at a steady rate (`run.progress_every` seconds).
///
/// A run is phases of countable work: embedding-cache slices, training steps (every epoch of
/// every seed this rank trains, validation and checkpoints included in their time), and test
/// volumes. Each phase's rate is measured as it runs (wall seconds per unit, from the first unit
/// advanced to the last); the ETA is the remaining units of every phase times that phase's rate.
/// A phase that has not started yet has no rate: the ETA then covers only the measured phases and
/// says which are still unmeasured, instead of guessing. Work a resumed run finds done is
/// `skip`ped: it counts as done but not towards any rate.
///
/// Lines go through `RunLog.info`; `print: false` (other ranks, by default) keeps the bookkeeping
/// silent. A line is printed when a unit completes and `every` seconds have passed since the last.
public final class RunProgress {
    public enum Phase: String, CaseIterable, Sendable {
        case cache = "embedding cache", training, test
    }

    struct Tally {
        var planned = 0, done = 0, skipped = 0
        var started: Date?, seconds = 0.0
        var measured: Int { done - skipped }
        /// Seconds per unit, nil until a unit has been timed.
        var rate: Double? { measured > 0 && seconds > 0 ? seconds / Double(measured) : nil }
        var remaining: Int { max(0, planned - done) }
    }

    public let every: Double
    public let prints: Bool
    let log: RunLog
    let clock: () -> Date
    let runStarted: Date
    var tallies: [Phase: Tally] = [:]
    var lastPrint: Date
    /// The lines printed so far (kept for tests; a run prints a few hundred at most).
    public private(set) var lines: [String] = []

    /// `every` seconds between lines (0: never print).
    public init(every: Double, prints: Bool, log: RunLog, clock: @escaping () -> Date = Date.init) {
        (self.every, self.prints, self.log, self.clock) = (every, prints, log, clock)
        runStarted = clock()
        lastPrint = runStarted
    }

    /// Adds `units` of planned work to `phase` (e.g. one seed's steps; called once per seed).
    public func plan(_ phase: Phase, units: Int) {
        tallies[phase, default: Tally()].planned += max(0, units)
    }

    /// Marks `units` of `phase` as found done (a resumed run): they are not timed.
    public func skip(_ phase: Phase, units: Int) {
        tallies[phase, default: Tally()].done += units
        tallies[phase, default: Tally()].skipped += units
    }

    /// Starts the clock of `phase` (its first unit's time counts from here).
    public func begin(_ phase: Phase) {
        if tallies[phase, default: Tally()].started == nil { tallies[phase]!.started = clock() }
    }

    /// Ends a stretch of `phase` (e.g. one seed's training, before its test): time until the next
    /// `begin` does not count towards its rate.
    public func pause(_ phase: Phase) {
        guard let started = tallies[phase]?.started else { return }
        tallies[phase]!.seconds += clock().timeIntervalSince(started)
        tallies[phase]!.started = nil
    }

    /// `units` of `phase` completed; prints a line when one is due, with `detail` in front.
    public func advance(_ phase: Phase, by units: Int = 1, detail: @autoclosure () -> String) {
        begin(phase)
        tallies[phase]!.done += units
        let now = clock()
        guard prints, every > 0, now.timeIntervalSince(lastPrint) >= every else { return }
        lastPrint = now
        let line = detail() + "  |  " + summary(now: now)
        lines.append(line)
        log.info(line)
    }

    /// "run 42% (training 120/300 steps), elapsed 1m05s, ETA 3m40s" — or, with phases not yet
    /// measured, "ETA >= 3m40s (test not measured yet)".
    public func summary(now: Date? = nil) -> String {
        let now = now ?? clock()
        var remaining = 0.0, unmeasured: [String] = [], doneWeight = 0.0, totalWeight = 0.0
        for phase in Phase.allCases {
            guard var t = tallies[phase], t.planned > 0 else { continue }
            if let started = t.started { t.seconds += now.timeIntervalSince(started) }
            if let rate = t.rate {
                remaining += rate * Double(t.remaining)
                doneWeight += rate * Double(min(t.done, t.planned))
                totalWeight += rate * Double(t.planned)
            } else if t.remaining > 0 {
                unmeasured.append(phase.rawValue)
            }
        }
        let percent = totalWeight > 0 ? Int((100 * doneWeight / totalWeight).rounded(.down)) : 0
        var text = "run \(percent)%, elapsed \(Self.duration(now.timeIntervalSince(runStarted))), ETA "
        text += unmeasured.isEmpty ? Self.duration(remaining)
            : ">= \(Self.duration(remaining)) (\(unmeasured.joined(separator: ", ")) not measured yet)"
        return text
    }

    /// "45s", "3m05s", "2h07m".
    public static func duration(_ seconds: Double) -> String {
        let s = max(0, Int(seconds.rounded()))
        if s < 60 { return "\(s)s" }
        if s < 3600 { return String(format: "%dm%02ds", s / 60, s % 60) }
        return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60)
    }
}
