import ArgumentParser
import Foundation
import SAM
import Tensors

/// `autosam bench encoder`: seconds per image, achieved GFLOP/s and peak memory of the SAM image
/// encoder with random weights (shapes are what matter; see `EncoderFLOPs` for the FLOP count).
struct EncoderBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encoder",
        abstract: "Time the SAM image encoder (random weights) per image, with a per-stage breakdown."
    )

    @Option(help: "Encoder preset: vit_b, vit_l or vit_h.")
    var preset: String = "vit_b"

    @Option(help: "Thread counts to measure, comma separated.")
    var threads: String = "1,2"

    @Option(name: .customLong("image-size"), help: "Input side in pixels (default: the preset's, 1024).")
    var imageSize: Int?

    @Option(help: "Timed forward passes per thread count (after one warm-up pass).")
    var repeats: Int = 2

    @Option(help: "Seed of the random weights and image.")
    var seed: UInt64 = 1

    func validate() throws {
        guard EncoderConfig.preset(named: preset) != nil else {
            throw ValidationError("--preset: unknown '\(preset)'; use vit_b, vit_l or vit_h")
        }
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1") }
        _ = try threadCounts()
        let problems = config().problems
        guard problems.isEmpty else { throw ValidationError("--image-size: " + problems.joined(separator: "; ")) }
    }

    func run() throws {
        let config = config(), flops = EncoderFLOPs(config: config)
        print("OpenBLAS core: \(BLASRuntime.selection)")
        print("encoder \(preset): \(config)")
        print(String(format: "FLOPs per image: %.1f G (qkv %.1f, attention %.1f, rel-pos %.1f, proj %.1f, MLP %.1f, patch %.1f, neck %.1f)",
                     flops.total / 1e9, flops.qkv / 1e9, flops.attention / 1e9, flops.relativePosition / 1e9,
                     flops.projection / 1e9, flops.mlp / 1e9, flops.patchEmbed / 1e9, flops.neck / 1e9))
        let encoder = ImageEncoder(weights: try ImageEncoderWeights.random(config: config, seed: seed))
        let image = CounterRNG(seed: seed, stream: 1).normals(3 * config.imageSize * config.imageSize)
        var output = [Float](repeating: 0, count: config.outChannels * config.gridSize * config.gridSize)
        print("weights \(megabytes(4 * encoder.weights.parameterCount)) MB")

        var rows: [(threads: Int, seconds: Double, timings: ImageEncoderTimings, rss: Double)] = []
        for t in try threadCounts() {
            BLASRuntime.setThreads(t)
            let workspace = ImageEncoderWorkspace(config: config, batch: 1)
            func pass() {
                image.withUnsafeBufferPointer { x in
                    output.withUnsafeMutableBufferPointer { y in
                        encoder.forward(output: y.baseAddress!, images: x.baseAddress!, workspace: workspace)
                    }
                }
            }
            pass()
            workspace.resetTimings()
            let start = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<repeats { pass() }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9 / Double(repeats)
            rows.append((t, seconds, workspace.timings, peakResidentMegabytes()))
            print(String(format: "threads %d: %.2f s/image, %.1f GFLOP/s, workspace %@ MB", t, seconds,
                         flops.total / seconds / 1e9, megabytes(workspace.byteCount)))
        }
        report(rows, flops: flops)
    }

    private func report(_ rows: [(threads: Int, seconds: Double, timings: ImageEncoderTimings, rss: Double)],
                        flops: EncoderFLOPs) {
        let header = rows.map { String(format: "%12@", "\($0.threads) thr") }.joined()
        print("\n" + "stage (s/image)".padding(toLength: 26, withPad: " ", startingAt: 0) + header)
        for stage in ImageEncoderTimings.Stage.allCases {
            let cells = rows.map { String(format: "%12.3f", ($0.timings.seconds[stage] ?? 0) / Double(repeats)) }
            print(stage.rawValue.padding(toLength: 26, withPad: " ", startingAt: 0) + cells.joined())
        }
        func line(_ name: String, _ value: (Int) -> String) {
            print(name.padding(toLength: 26, withPad: " ", startingAt: 0) + rows.indices.map(value).joined())
        }
        line("total s/image") { String(format: "%12.3f", rows[$0].seconds) }
        line("GFLOP/s") { String(format: "%12.1f", flops.total / rows[$0].seconds / 1e9) }
        line("peak RSS (MB, so far)") { String(format: "%12.0f", rows[$0].rss) }
    }

    private func config() -> EncoderConfig {
        var c = EncoderConfig.preset(named: preset) ?? .vitB
        if let imageSize { c.imageSize = imageSize }
        return c
    }

    private func threadCounts() throws -> [Int] {
        try threads.split(separator: ",").map { part in
            guard let n = Int(part.trimmingCharacters(in: .whitespaces)), n >= 1 else {
                throw ValidationError("--threads: '\(part)' is not a positive integer")
            }
            return n
        }
    }

    private func megabytes(_ bytes: Int) -> String { String(format: "%.0f", Double(bytes) / 1_048_576) }

    /// getrusage's peak resident set size of this process (ru_maxrss, KiB on Linux) in MiB.
    private func peakResidentMegabytes() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) / 1024
    }
}
