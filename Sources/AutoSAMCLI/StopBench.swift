import ArgumentParser
import Baselines
import Collectives
import Config
import Datasets
import Embeddings
import Evaluation
import Experiments
import Foundation
import Heads
import Optim
import Runs
import Tensors
import Training

/// `autosam bench stop`: what preemption support costs (issue 15): the stop agreement every
/// rank makes at every step boundary (one 8-byte all-reduce; run under mpirun for the real
/// number) and one mid-epoch checkpoint write by the coordinator, next to the time of one
/// training step of the same head, for a config's head and for the AutoSAM head at ViT-B size.
struct StopBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stop",
        abstract: "Cost of the per-step stop agreement and of a step checkpoint, next to a training step.",
        discussion: "Run under mpirun (e.g. `mpirun -np 2 autosam bench stop`) to time the agreement across ranks."
    )

    @OptionGroup var options: ConfigOptions

    @Option(help: "Stop agreements timed.")
    var agreements: Int = 2000

    @Option(help: "Checkpoint writes timed per head (the median is printed).")
    var writes: Int = 5

    @Option(help: ArgumentHelp("Folder the checkpoints are written to "
                               + "(use the file system of your runs; default: a temporary folder)."))
    var dir: String?

    @Flag(help: "Skip the AutoSAM head at ViT-B size (256 channels, 64 x 64 grid, batch 4, 224 x 224 labels).")
    var skipVitB = false

    func validate() throws {
        if agreements < 1 || writes < 1 { throw ValidationError("--agreements and --writes must be positive") }
    }

    func run() throws {
        let config = try options.load()
        RankedJob.run { comm in
            configureThreads(config)
            var times: [Double] = []
            try comm.barrier()
            for _ in 0..<agreements {
                let start = Date()
                _ = try StopRequest.agreed(in: comm)
                times.append(Date().timeIntervalSince(start))
            }
            var agreement = [BenchHarness.median(times)]
            try comm.allReduceMax(&agreement)
            guard comm.isCoordinator else { return }
            print(BenchHarness.machineLine + "; \(comm.size) rank(s)")
            print(String(format: "stop agreement: %.1f µs per step (median of %d, slowest rank)",
                         agreement[0] * 1e6, agreements))
            let folder = dir.map { URL(fileURLWithPath: $0) }
                ?? FileManager.default.temporaryDirectory.appendingPathComponent("autosam-stop-bench-\(getpid())")
            defer { if dir == nil { try? FileManager.default.removeItem(at: folder) } }
            print("head                         params   checkpoint MB   write ms   head step ms"
                  + "   agreement/step   checkpoint/step")
            let encoderShape = try SliceEncoders.make(config).embeddingShape
            let own = try HeadFactory.make(config, inputChannels: encoderShape[0])
            let row = Row(config: config, batch: config.optim.batch_size, embedding: encoderShape,
                          labelSize: config.data.slice_size,
                          folder: folder.appendingPathComponent("config"), writes: writes, agreement: agreement[0])
            try own.visit(row.named("\(config.head.kind) (\(config.name))"))
            if !skipVitB {
                var vitB = config
                vitB.data.classes = 4
                let head = AutoSAMHead(inputChannels: 256, classes: 4)
                try Row(config: vitB, batch: 4, embedding: [256, 64, 64], labelSize: 224,
                        folder: folder.appendingPathComponent("vit_b"), writes: writes, agreement: agreement[0])
                    .named("autosam (ViT-B, B4 K4)").visit(head)
            }
        }
    }

    /// One table row: a head's step time and checkpoint cost.
    struct Row: HeadVisitor {
        let config: ExperimentConfig
        let batch: Int
        /// One slice's embedding (C, g, g).
        let embedding: [Int]
        let labelSize: Int
        let folder: URL
        let writes: Int
        let agreement: Double
        var name = ""

        func named(_ name: String) -> Row {
            var row = self
            row.name = name
            return row
        }

        func visit<H: SegmentationHead>(_ head: H) throws {
            let (trainable, frozen) = head.initialState(seed: 1, lr: config.optim.lr)
            var state = trainable
            var step = HeadStep(head: head)
            let batches = (0..<3).map {
                BenchHarness.randomBatch(batch, embedding: embedding, labelSize: labelSize, classes: head.classes,
                                         seed: UInt64($0))
            }
            let stepTime = try BenchHarness.medianStep(&step, state: &state, frozen: frozen, batches: batches)
            let store = CheckpointStore(root: folder, keep: 1)
            var writeTimes: [Double] = []
            for w in 0..<writes {
                var checkpoint = try BenchHarness.checkpoint(state, frozen: frozen, config: config, steps: w + 1)
                var partial = TrainingCheckpoint.PartialEpoch()
                partial.steps = w + 1
                checkpoint.state.partialEpoch = partial
                let start = Date()
                try store.write(checkpoint)
                writeTimes.append(Date().timeIntervalSince(start))
            }
            let bytes = try FileManager.default.subpathsOfDirectory(atPath: folder.path).reduce(0) { sum, path in
                let attributes = try? FileManager.default
                    .attributesOfItem(atPath: folder.appendingPathComponent(path).path)
                return sum + ((attributes?[.size] as? Int) ?? 0)
            }
            let write = BenchHarness.median(writeTimes)
            print(name.padding(toLength: 26, withPad: " ", startingAt: 0)
                  + String(format: "%9d %15.1f %10.1f %14.1f %15.4f%% %16.1f%%", state.layout.totalCount,
                           Double(bytes) / 1e6, write * 1000, stepTime * 1000, agreement / stepTime * 100,
                           write / stepTime * 100))
        }
    }
}
