import ArgumentParser
import Foundation
import Collectives
import Heads
import Tensors

/// `autosam bench heads`: one training step of each trainable head at the real size (DESIGN
/// §3.4-3.5): embedding (B, 256, 64, 64) -> logits (B, K, 256, 256) -> bilinear resize to the
/// 224 x 224 labels -> CE + Dice -> backward -> Adam, timed per phase, with peak memory.
struct HeadBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "heads",
        abstract: "Forward + backward + Adam step time and peak memory of the AutoSAM, CNN and linear heads "
            + "at the real size."
    )

    @Option(help: ArgumentHelp("Heads to measure, comma separated: autosam, cnn, linear "
                               + "(run one at a time for its own peak memory)."))
    var heads: String = "autosam,cnn,linear"

    @Option(help: "Batch size B of the embedding (B, C, G, G).")
    var batch: Int = 4

    @Option(help: "Embedding channels C (256 for SAM).")
    var channels: Int = 256

    @Option(help: "Embedding grid G (64 for SAM at 1024 px).")
    var grid: Int = 64

    @Option(help: "Number of classes K (background included).")
    var classes: Int = 4

    @Option(help: "Label grid; the logits are bilinearly resized to it when they differ.")
    var labelSize: Int = 224

    @Option(help: "CNN head num_depth k.")
    var depth: Int = 4

    @Option(help: "CNN head top_channel t.")
    var topChannel: Int = 64

    @Option(help: "Timed steps per head (after one warm-up step).")
    var steps: Int = 3

    @OptionGroup var threads: BenchThreadOption

    func validate() throws {
        for (name, value) in [("--batch", batch), ("--channels", channels), ("--grid", grid),
                              ("--label-size", labelSize), ("--top-channel", topChannel), ("--steps", steps)]
        where value < 1 {
            throw ValidationError("\(name) must be positive, got \(value)")
        }
        if classes < 2 { throw ValidationError("--classes must be at least 2, got \(classes)") }
        if depth < 2 { throw ValidationError("--depth must be at least 2, got \(depth)") }
        if channels % 8 != 0 {
            throw ValidationError("--channels must be divisible by 8 (linear head), got \(channels)")
        }
        for name in headNames where !["autosam", "cnn", "linear"].contains(name) {
            throw ValidationError("--heads: unknown head '\(name)' (autosam, cnn, linear)")
        }
    }

    private var headNames: [String] {
        heads.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
    }

    func run() throws {
        threads.apply()
        print(BenchHarness.machineLine)
        print("embedding (\(batch), \(channels), \(grid), \(grid)), \(classes) classes, "
              + "labels \(labelSize)x\(labelSize), \(steps) timed steps after 1 warm-up")
        let rng = CounterRNG(seed: 2023, stream: 1)
        let embeddings = Tensor(shape: [batch, channels, grid, grid], data: rng.normals(batch * channels * grid * grid))
        let labels = (0..<batch * labelSize * labelSize).map {
            Int32(rng.uniformInt(UInt64($0), below: UInt64(classes)))
        }
        print("peak RSS before the heads: \(BenchHarness.peakResidentMB()) MB")
        print("head              params  logits        fwd ms   loss ms   bwd ms  adam ms  step ms"
              + "       GFLOP/s  peak RSS MB")
        let input = FeatureShape(channels: channels, height: grid, width: grid)
        for name in headNames {
            switch name {
            case "autosam":
                let head = AutoSAMHead(inputChannels: channels, classes: classes)
                try measure(head, "autosam", head.config.multiplyAdds(batch: batch, height: grid, width: grid),
                            embeddings, labels)
            case "cnn":
                let head = CNNHead(inputChannels: channels, classes: classes, depth: depth, topChannel: topChannel)
                try measure(head, "cnn k=\(depth) t=\(topChannel)",
                            head.network.multiplyAdds(batch: batch, input: input), embeddings, labels)
            default:
                let head = LinearHead(inputChannels: channels, classes: classes)
                try measure(head, "linear", head.network.multiplyAdds(batch: batch, input: input), embeddings, labels)
            }
        }
    }

    /// Times the phases of `steps` training steps and prints one row.
    private func measure<H: SegmentationHead>(_ head: H, _ name: String, _ multiplyAdds: Int,
                                               _ embeddings: Tensor, _ labels: [Int32]) throws {
        let initial = head.initialState(seed: 1)
        var state = initial.trainable
        let frozen = initial.frozen
        var step = HeadStep(head: head)
        let comm = SingleProcessCommunicator()
        let batch = LocalBatch(embeddings: embeddings, labels: labels, labelSize: labelSize)
        var phases = [Double](repeating: 0, count: 4)   // forward, loss (resize + CE/Dice + backward), backward, Adam
        for round in 0...steps {
            // The training path itself (HeadStep.run), timed by its own phase clock.
            _ = try step.run(batch, globalCount: batch.count, state: &state, frozen: frozen, comm: comm, backward: true)
            let adamStarted = Date()
            state.step()
            guard round > 0 else { continue }
            let p = step.phases
            for (i, seconds) in [p.forward, p.loss, p.backward, Date().timeIntervalSince(adamStarted)].enumerated() {
                phases[i] += seconds
            }
        }
        let ms = phases.map { $0 / Double(steps) * 1000 }
        let total = ms.reduce(0, +)
        let flops = 6.0 * Double(multiplyAdds)   // forward 2 FLOP per multiply-add, backward twice that
        let gflops = flops / ((ms[0] + ms[2]) / 1000) / 1e9
        let out = head.outputSize(height: embeddings.shape[2], width: embeddings.shape[3])
        let shape = "\(head.classes)x\(out.height)x\(out.width)"
        print(name.padding(toLength: 15, withPad: " ", startingAt: 0)
              + String(format: "%9d  ", state.layout.totalCount)
              + shape.padding(toLength: 12, withPad: " ", startingAt: 0)
              + String(format: "%8.1f %9.1f %8.1f %8.1f %8.1f %13.1f %12d", ms[0], ms[1], ms[2], ms[3], total, gflops,
                       BenchHarness.peakResidentMB()))
    }
}
