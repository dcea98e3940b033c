import Collectives
import Foundation
import XCTest
@testable import Config
@testable import Experiments
@testable import Runs

final class RunProgressTests: XCTestCase {
    /// A clock the test moves by hand.
    final class FakeClock {
        var now = Date(timeIntervalSince1970: 1_000_000)
        func advance(_ seconds: Double) { now = now.addingTimeInterval(seconds) }
    }

    func progress(every: Double = 5, prints: Bool = true, clock: FakeClock) -> RunProgress {
        RunProgress(every: every, prints: prints, log: RunLog(rank: 0, metricsFile: nil), clock: { clock.now })
    }

    func testETAIsRemainingUnitsTimesTheMeasuredRateOfEveryPhase() {
        let clock = FakeClock(), p = progress(clock: clock)
        p.plan(.training, units: 100)
        p.plan(.test, units: 4)
        p.begin(.training)
        for _ in 0..<10 {
            clock.advance(2)
            p.advance(.training, detail: "step")
        }
        // 10 steps in 20 s: 90 steps left = 180 s; the test phase is not measured yet.
        XCTAssertEqual(p.summary(), "run 10%, elapsed 20s, ETA >= 3m00s (test not measured yet)")
        p.pause(.training)
        clock.advance(100)   // not training time: does not change the training rate
        p.begin(.test)
        clock.advance(8)
        p.advance(.test, by: 2, detail: "test")
        p.pause(.test)
        // left: training 90 x 2 s + test 2 x 4 s; done: 10 x 2 + 2 x 4 = 28 of 216 weighted seconds.
        XCTAssertEqual(p.summary(), "run 12%, elapsed 2m08s, ETA 3m08s")
    }

    func testLinesComeAtTheConfiguredRateOnlyWhenPrinting() {
        let clock = FakeClock(), p = progress(every: 5, clock: clock), silent = progress(prints: false, clock: clock)
        for q in [p, silent] { q.plan(.cache, units: 30) }
        for _ in 0..<30 {
            clock.advance(1)
            for q in [p, silent] { q.advance(.cache, detail: "slice") }
        }
        XCTAssertEqual(p.lines.count, 6, "one line per 5 s over 30 s, not one per unit")
        XCTAssertTrue(p.lines.allSatisfy { $0.hasPrefix("slice  |  run ") && $0.contains("ETA") })
        XCTAssertTrue(p.lines.last!.hasSuffix("ETA 0s"))
        XCTAssertTrue(silent.lines.isEmpty)
        let off = progress(every: 0, clock: clock)
        off.plan(.cache, units: 3)
        clock.advance(60)
        off.advance(.cache, detail: "slice")
        XCTAssertTrue(off.lines.isEmpty, "0 turns the lines off")
    }

    func testResumedWorkCountsAsDoneButNotTowardsTheRate() {
        let clock = FakeClock(), p = progress(clock: clock)
        p.plan(.training, units: 100)
        p.skip(.training, units: 50)
        p.begin(.training)
        clock.advance(10)
        p.advance(.training, by: 10, detail: "step")
        // 1 s per step measured on the 10 steps of this call; 40 left.
        XCTAssertTrue(p.summary().hasSuffix("ETA 40s"), p.summary())
    }

    func testDurations() {
        XCTAssertEqual(RunProgress.duration(0.4), "0s")
        XCTAssertEqual(RunProgress.duration(59), "59s")
        XCTAssertEqual(RunProgress.duration(185), "3m05s")
        XCTAssertEqual(RunProgress.duration(7620), "2h07m")
    }

    /// A real run: the progress covers the cache build, every seed's steps and the test volumes,
    /// and ends with nothing left.
    func testARunPlansAndFinishesEveryPhase() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("progress-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        var c = TinyRun.config(in: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: URL(fileURLWithPath: TinyRun.shared.config.data.root),
                                         to: URL(fileURLWithPath: c.data.root))
        c.seeds = [0, 1]
        c.optim.epochs = 2
        c.run.progress_every = 1e-9   // a line at every unit
        let experiment = Experiment(config: c, world: SingleProcessCommunicator(), encoderFactory: TinyRun.encoderFactory)
        try experiment.run()
        let progress = try XCTUnwrap(experiment.progress)
        for phase in RunProgress.Phase.allCases {
            let tally = try XCTUnwrap(progress.tallies[phase], phase.rawValue)
            XCTAssertGreaterThan(tally.planned, 0, phase.rawValue)
            XCTAssertEqual(tally.done, tally.planned, phase.rawValue)
        }
        XCTAssertTrue(progress.lines.contains { $0.hasPrefix("seed 1 epoch 2/2 step") })
        XCTAssertTrue(progress.lines.last!.contains("run 100%"), progress.lines.last!)
    }
}
