import TensorFiles
import Collectives
import Datasets
import Foundation
import Tensors
import TestSupport
import XCTest
@testable import Baselines
@testable import Config
@testable import Embeddings
@testable import Evaluation
@testable import Experiments
@testable import Runs
@testable import Training

/// A run folder owned by one run at a time, and resume that trusts nothing it has not verified
/// (issue 14 items 3 and 4): run lock, state.json checksum, split and data identity checks,
/// leftover temporary folders, metrics.jsonl after a resume, a full disk.
final class RunFolderTests: XCTestCase {
    private func folder() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("autosam-runfolder-\(UUID().uuidString)")
    }

    /// The tiny CNN run on the shared TinyRun phantom data, single process.
    private func config(_ dir: URL, epochs: Int = 3) -> ExperimentConfig {
        var c = TinyRun.config(in: dir)
        c.data.root = TinyRun.shared.config.data.root
        c.optim.epochs = epochs
        return c
    }

    private func experiment(_ c: ExperimentConfig) -> Experiment {
        Experiment(config: c, world: SingleProcessCommunicator(), encoderFactory: TinyRun.encoderFactory)
    }

    func testASecondRunOnALockedFolderFailsNamingTheHolder() throws {
        let c = config(folder(), epochs: 1)
        let dir = URL(fileURLWithPath: c.output.dir)
        let lock = try RunLock(folder: dir)
        XCTAssertThrowsError(try RunLock(folder: dir)) { error in
            XCTAssertTrue("\(error)".contains("in use by another run") && "\(error)".contains("pid \(getpid())"),
                          "\(error)")
        }
        XCTAssertThrowsError(try experiment(c).run()) { error in
            XCTAssertTrue("\(error)".contains("in use by another run"), "\(error)")
        }
        lock.release()
        XCTAssertNoThrow(try RunLock(folder: dir).release(), "a released lock can be taken")
    }

    /// A lock file left by a process that died (its flock released by the kernel) is taken over.
    func testAStaleLockFileIsTakenOver() throws {
        let dir = folder()
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try "host elsewhere pid 999999 since 2020-01-01T00:00:00Z\n"
            .write(to: dir.appendingPathComponent(RunLock.fileName), atomically: true, encoding: .utf8)
        let lock = try RunLock(folder: dir)
        XCTAssertTrue(try String(contentsOf: lock.url, encoding: .utf8).contains("pid \(getpid())"))
    }

    /// state.json edited but still valid JSON, or its checksums emptied together with flipped
    /// tensor bytes: the checkpoint is refused (the COMPLETE marker holds state.json's SHA-256).
    func testAnEditedStateFileIsNotTrusted() throws {
        let c = config(folder(), epochs: 2)
        _ = try TinyRun.train(c)
        let checkpoints = URL(fileURLWithPath: c.output.dir).appendingPathComponent("seed_0/checkpoints")
        let store = CheckpointStore(root: checkpoints, keep: 100)
        let stateURL = store.folder(epoch: 2).appendingPathComponent("state.json")
        let original = try String(contentsOf: stateURL, encoding: .utf8)
        XCTAssertNoThrow(try store.read(epoch: 2))
        try original.replacingOccurrences(of: "\"epoch\" : 2", with: "\"epoch\" : 5")
            .write(to: stateURL, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try store.read(epoch: 2)) { XCTAssertTrue("\($0)".contains("edited or damaged"), "\($0)") }
        // Emptied checksums plus flipped tensor bytes, with a marker forged for the edited state.
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(original.utf8)) as? [String: Any])
        object["checksums"] = [String: String]()
        let forged = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        try forged.write(to: stateURL)
        try Data((CheckpointStore.digest(forged) + "\n").utf8)
            .write(to: store.folder(epoch: 2).appendingPathComponent("COMPLETE"))
        XCTAssertThrowsError(try store.read(epoch: 2)) { XCTAssertTrue("\($0)".contains("no checksum for"), "\($0)") }
        XCTAssertEqual(store.latestValid().checkpoint?.state.epoch, 1, "the previous checkpoint is used instead")
    }

    /// Seeded mutation fuzzing of a training checkpoint folder: a flipped bit, a truncation or an
    /// appended byte in any of its files (state.json, the tensor files, the COMPLETE marker) must
    /// make `read` throw: nothing in a checkpoint is used unverified, and nothing traps.
    func testEveryMutationOfACheckpointIsRefused() throws {
        let c = config(folder(), epochs: 1)
        _ = try TinyRun.train(c)
        let checkpoints = URL(fileURLWithPath: c.output.dir).appendingPathComponent("seed_0/checkpoints")
        let store = CheckpointStore(root: checkpoints, keep: 100)
        let dir = store.folder(epoch: 1)
        let files = ["state.json", "head.safetensors", "optimizer.safetensors", "COMPLETE"]
        let originals = try files.map { try Data(contentsOf: dir.appendingPathComponent($0)) }
        let rng = CounterRNG(seed: 1414)
        var refused = 0
        for i in 0..<400 {
            let r = rng.substream(UInt64(i))
            let f = Int(r.uniformInt(0, below: UInt64(files.count)))
            var bytes = originals[f]
            let at = Int(r.uniformInt(1, below: UInt64(bytes.count)))
            switch r.uniformInt(2, below: 3) {
            case 0: bytes[at] ^= UInt8(1 << r.uniformInt(3, below: 8))
            case 1: bytes = bytes.prefix(at)
            default: bytes.append(UInt8(truncatingIfNeeded: r.uniformInt(4, below: 256)))
            }
            try bytes.write(to: dir.appendingPathComponent(files[f]))
            XCTAssertThrowsError(try store.read(epoch: 1), "case \(i): \(files[f]) mutated but accepted")
            refused += 1
            try originals[f].write(to: dir.appendingPathComponent(files[f]))
        }
        XCTAssertEqual(refused, 400)
        XCTAssertNoThrow(try store.read(epoch: 1), "the restored checkpoint reads again")
    }

    /// split.json edited between stop and resume: the resume is refused naming the split part
    /// and the patients that moved.
    func testResumeRefusesAnEditedSplit() throws {
        let c = config(folder())
        try FileManager.default.createDirectory(at: URL(fileURLWithPath: c.output.dir),
                                                withIntermediateDirectories: true)
        XCTAssertNil(try experiment(c).run(stopAfterEpochs: 1))
        let splitURL = URL(fileURLWithPath: c.output.dir).appendingPathComponent("split.json")
        var plan = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: splitURL)) as? [String: Any])
        var folds = try XCTUnwrap(plan["folds"] as? [[String: Any]])
        var fold = folds[0]
        let (train, test) = (try XCTUnwrap(fold["train"] as? [String]), try XCTUnwrap(fold["test"] as? [String]))
        (fold["train"], fold["test"]) = ([test[0]] + train.dropFirst(), [train[0]] + test.dropFirst())
        folds[0] = fold
        plan["folds"] = folds
        try JSONSerialization.data(withJSONObject: plan).write(to: splitURL)
        XCTAssertThrowsError(try experiment(c).run(resume: .auto)) { error in
            XCTAssertTrue("\(error)".contains("split differs") && "\(error)".contains(test[0]), "\(error)")
        }
    }

    /// Volumes edited between stop and resume (same names, same split): refused, since the
    /// checkpoint records the training and validation data's content checksum.
    func testResumeRefusesChangedData() throws {
        let dir = folder()
        var c = config(dir)
        let data = dir.appendingPathComponent("data-copy")
        try FileManager.default.copyItem(at: URL(fileURLWithPath: c.data.root), to: data)
        c.data.root = data.path
        try FileManager.default.createDirectory(at: URL(fileURLWithPath: c.output.dir),
                                                withIntermediateDirectories: true)
        XCTAssertNil(try experiment(c).run(stopAfterEpochs: 1))
        let images = FileManager.default.enumerator(atPath: data.path)!.compactMap { $0 as? String }
            .filter { $0.hasSuffix(".nii.gz") && !$0.hasSuffix("_gt.nii.gz") }
        XCTAssertFalse(images.isEmpty)
        for name in images {
            let url = data.appendingPathComponent(name)
            let image = try NIfTIImage(contentsOf: url)
            var values = image.data
            values[0] += 100
            try NIfTIImage(header: image.header, data: values).write(to: url)
        }
        XCTAssertThrowsError(try experiment(c).run(resume: .auto)) { error in
            XCTAssertTrue("\(error)".contains("volumes differ"), "\(error)")
        }
    }

    /// After a resume every epoch appears once in metrics.jsonl (epochs logged after the restored
    /// checkpoint are dropped and logged again), and a temporary checkpoint folder left by a
    /// failed write is removed by the next write.
    func testResumeLeavesOneRecordPerEpochAndNoTemporaryFolders() throws {
        var c = config(folder(), epochs: 4)
        c.output.checkpoint_every = 2
        try FileManager.default.createDirectory(at: URL(fileURLWithPath: c.output.dir),
                                                withIntermediateDirectories: true)
        XCTAssertNil(try experiment(c).run(stopAfterEpochs: 3))     // epochs 1-3 logged, checkpoint at 2
        let seed = URL(fileURLWithPath: c.output.dir).appendingPathComponent("seed_0")
        let leftover = seed.appendingPathComponent("checkpoints/.tmp-epoch_0003-12345")
        try FileManager.default.createDirectory(at: leftover, withIntermediateDirectories: true)
        try FileManager.default.removeItem(at: seed.appendingPathComponent("checkpoints/epoch_0003"))
        XCTAssertNotNil(try experiment(c).run(resume: .auto))
        let epochs = try String(contentsOf: seed.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
            .split(separator: "\n").map { try JSONDecoder().decode(EpochRecord.self, from: Data($0.utf8)).epoch }
        XCTAssertEqual(epochs, [1, 2, 3, 4])
        XCTAssertFalse(FileManager.default.fileExists(atPath: leftover.path))
    }

    /// A full disk while appending to metrics.jsonl is an error naming the file, not a crash.
    func testAFullDiskWhileLoggingIsAnError() throws {
        guard FileManager.default.fileExists(atPath: "/dev/full") else { throw XCTSkip("no /dev/full on this system") }
        let log = RunLog(rank: 0, metricsFile: URL(fileURLWithPath: "/dev/full"))
        XCTAssertThrowsError(try log.append(["epoch": 1])) { XCTAssertTrue("\($0)".contains("/dev/full"), "\($0)") }
    }
}
