import Collectives
import Datasets
import Foundation
import XCTest
@testable import Baselines
@testable import Config
@testable import Embeddings
@testable import Evaluation
@testable import Experiments
@testable import Runs
@testable import Training

/// Stop requests and mid-epoch checkpoints (issue 15): a stop agreed at a step boundary writes a
/// checkpoint of that step, every rank throws `Preempted`, and `--resume auto` continues
/// mid-epoch to exactly the uninterrupted run's parameters and logged losses; step checkpoints
/// replace each other; checkpoint folder names parse in one place.
final class PreemptionTests: XCTestCase, TinyDistributedRuns {
    override func tearDown() {
        StopRequest.reset()
        super.tearDown()
    }

    /// Trains on `ranks` in-process ranks; `afterStep(rank, steps)` runs after every step.
    func run(_ c: ExperimentConfig, ranks: Int = 2, resume: ResumeMode = .none,
             afterStep: ((Int, Int) -> Void)? = nil) throws {
        _ = try LocalGroup.run(size: ranks) { comm -> Int in
            let e = Experiment(config: c, world: comm) { _ in PoolingEncoder() }
            if let afterStep { e.afterStep = { afterStep(comm.rank, $0) } }
            try e.run(resume: resume)
            return 0
        }
    }

    func store(_ c: ExperimentConfig) -> CheckpointStore {
        CheckpointStore(root: URL(fileURLWithPath: c.output.dir).appendingPathComponent("seed_0/checkpoints"),
                        keep: 100)
    }

    func records(_ c: ExperimentConfig) throws -> [EpochRecord] {
        let text = try String(contentsOfFile: c.output.dir + "/seed_0/metrics.jsonl", encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONDecoder().decode(EpochRecord.self, from: Data($0.utf8)) }
    }

    func finalParameters(_ c: ExperimentConfig) throws -> [Float] {
        let s = store(c)
        return try s.read(epoch: s.completeEpochs().last!).params.flatMap(\.1.data)
    }

    /// A stop requested on rank 1 alone in the middle of epoch 2: both ranks stop after the same
    /// step, the checkpoint of that step is the newest, nothing is tested; the resumed run ends
    /// bit-identical to the uninterrupted one (parameters, per-epoch losses and the test CSV).
    func testStopMidEpochCheckpointsTheStepAndResumesBitIdentically() throws {
        let full = config("preempt-full", epochs: 3)
        try run(full)
        let perEpoch = try records(full)[0].step
        XCTAssertGreaterThanOrEqual(perEpoch, 2, "the test needs a step inside an epoch")
        let stopAt = perEpoch + 1                           // epoch 2, step 1

        let parted = config("preempt-parted", epochs: 3)
        var stoppedRanks = Set<Int>()
        let lock = NSLock()
        XCTAssertThrowsError(try run(parted) { rank, steps in
            if rank == 1 && steps == stopAt { StopRequest.request() }
            if steps > stopAt { lock.lock(); stoppedRanks.insert(rank); lock.unlock() }   // a rank went on
        }) { error in
            XCTAssertTrue(error is Preempted, "\(error)")
            XCTAssertTrue("\(error)".contains("epoch 2, step 1 of \(perEpoch)"), "\(error)")
        }
        XCTAssertTrue(stoppedRanks.isEmpty, "ranks \(stoppedRanks) took a step after the agreed stop")
        StopRequest.reset()
        XCTAssertEqual(store(parted).complete().last, CheckpointName(epoch: 1, steps: 1))
        XCTAssertFalse(FileManager.default.fileExists(atPath: parted.output.dir + "/summary.json"),
                       "a stopped run tests nothing")
        let state = try store(parted).read(CheckpointName(epoch: 1, steps: 1)).state
        XCTAssertEqual(state.step, stopAt)
        XCTAssertEqual(state.partialEpoch?.steps, 1)

        try run(parted, resume: .auto)
        XCTAssertTrue(try finalParameters(parted) == finalParameters(full),
                      "parameters after a mid-epoch resume differ")
        XCTAssertEqual(try records(parted).map(\.trainLoss), try records(full).map(\.trainLoss),
                       "per-epoch training losses")
        XCTAssertEqual(try records(parted).map(\.step), try records(full).map(\.step))
        let csv = { (c: ExperimentConfig) in
            try Data(contentsOf: URL(fileURLWithPath: c.output.dir + "/seed_0/test_volumes.csv"))
        }
        XCTAssertEqual(try csv(parted), try csv(full))
        XCTAssertTrue(store(parted).complete().allSatisfy(\.isEpochBoundary),
                      "the mid-epoch checkpoint is pruned once a newer one exists")
    }

    /// `output.checkpoint_every_steps`: a checkpoint every N steps inside epochs (none on an
    /// epoch's last step, whose epoch checkpoint follows), each replacing the previous one.
    func testStepCheckpointsReplaceEachOther() throws {
        var c = config("step-checkpoints", epochs: 2)
        c.output.checkpoint_every_steps = 2
        var seen: [Int: [CheckpointName]] = [:]
        try run(c, ranks: 1) { _, steps in seen[steps] = self.store(c).complete() }
        let perEpoch = try records(c)[0].step
        for steps in 1...(2 * perEpoch) {
            let previous = steps - 1          // the step whose boundary came last
            let mid = (seen[steps] ?? []).filter { !$0.isEpochBoundary }
            if previous > 0 && previous % 2 == 0 && previous % perEpoch != 0 {
                XCTAssertEqual(mid, [CheckpointName(epoch: previous / perEpoch, steps: previous % perEpoch)],
                               "before step \(steps)")
            } else if previous % perEpoch == 0 {
                XCTAssertEqual(mid, [], "an epoch checkpoint replaces the step ones (before step \(steps))")
            }
        }
        XCTAssertTrue(store(c).complete().allSatisfy(\.isEpochBoundary))
    }

    func testCheckpointNamesParseInOnePlace() {
        XCTAssertEqual(CheckpointName(folderName: "epoch_0007"), CheckpointName(epoch: 7))
        XCTAssertEqual(CheckpointName(folderName: "epoch_0007_step_00012"), CheckpointName(epoch: 7, steps: 12))
        XCTAssertEqual(CheckpointName(epoch: 7, steps: 12).folderName, "epoch_0007_step_00012")
        XCTAssertEqual(CheckpointName(epoch: 12345).folderName, "epoch_12345")
        for bad in ["epoch_", "epoch_-1", "epoch_+1", "epoch_1x", "epoch_1_step_0", "epoch_1_step_", "epoch_1_steps_2",
                    "epoch_٣", "epoch_1_step_2_x", "Epoch_1", ".tmp-epoch_0001-12", "epoch_99999999999999999999999"] {
            XCTAssertNil(CheckpointName(folderName: bad), bad)
        }
        let sorted = [CheckpointName(epoch: 2), CheckpointName(epoch: 1, steps: 5), CheckpointName(epoch: 1),
                      CheckpointName(epoch: 1, steps: 10)].sorted()
        XCTAssertEqual(sorted.map(\.folderName),
                       ["epoch_0001", "epoch_0001_step_00005", "epoch_0001_step_00010", "epoch_0002"])
    }

    /// The data message of `data.distribute = broadcast` carries every volume exactly.
    func testSliceSetMessageRoundTrips() throws {
        let experiment = Experiment(config: config("message", epochs: 3), world: SingleProcessCommunicator()) { _ in
            PoolingEncoder()
        }
        let data = try experiment.prepareData()
        var out = MessageWriter()
        data.train.write(to: &out)
        var input = MessageReader(out.bytes, what: "test")
        let copy = try SliceSet(reading: &input)
        XCTAssertTrue(input.isAtEnd)
        XCTAssertEqual(copy.identity, data.train.identity)
        XCTAssertEqual(copy.slices, data.train.slices)
        for cut in [0, 7, out.bytes.count / 2, out.bytes.count - 1] {
            var truncated = MessageReader(Array(out.bytes.prefix(cut)), what: "test")
            XCTAssertThrowsError(try SliceSet(reading: &truncated), "cut at \(cut)")
        }
    }
}
