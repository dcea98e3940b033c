import ArgumentParser
import Foundation
import Layers
import SAM
import TensorFiles
import Tensors

/// `autosam bench encoder`: seconds per image, achieved GFLOP/s and peak memory of the SAM image
/// encoder with random weights (shapes are what matter; see `EncoderFLOPs` for the FLOP count), and
/// the share of its own matrix products' time (`forwardProductsOnly`, passes alternating with the
/// real ones; the ratio compares the fastest pass of each).
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

    @Option(help: ArgumentHelp("Load the weights from this SAM checkpoint (.pth or .safetensors) instead of "
                               + "random ones, "
                               + "printing the load time and peak memory; its shape replaces --preset."))
    var checkpoint: String?

    @Flag(help: "With --checkpoint: stop after loading (no forward passes).")
    var loadOnly = false

    @Option(help: ArgumentHelp("Precisions to measure, comma separated: fp32, bf16 (the large linears in "
                               + "bfloat16; needs AVX512-BF16 or AMX). With both, the embeddings' cosine "
                               + "similarity and the speed-up are printed."))
    var precision: String = "fp32"

    func validate() throws {
        guard EncoderConfig.preset(named: preset) != nil else {
            throw ValidationError("--preset: unknown '\(preset)'; use vit_b, vit_l or vit_h")
        }
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1") }
        _ = try threadCounts()
        _ = try precisions()
        let problems = config().problems
        guard problems.isEmpty else { throw ValidationError("--image-size: " + problems.joined(separator: "; ")) }
    }

    func run() throws {
        print(BenchHarness.machineLine)
        var loaded: ImageEncoderWeights? = nil
        if let checkpoint {
            let start = Date()
            let archive = try TensorArchives.open(URL(fileURLWithPath: checkpoint))
            loaded = try ImageEncoderWeights.load(from: archive)
            print(String(format: "loaded %@ in %.1f s; peak RSS so far %d MB (the float32 weights: %d MB)", checkpoint,
                         Date().timeIntervalSince(start), BenchHarness.peakResidentMB(),
                         4 * loaded!.parameterCount / 1_048_576))
            if loadOnly { return }
        }
        var config = config()
        if let loaded { config = loaded.config }
        let flops = EncoderFLOPs(config: config, projectionsOnPadding: false)
        print("encoder \(preset): \(config)")
        print(String(format: "FLOPs per image: %.1f G computed here (qkv %.1f, attention %.1f, rel-pos %.1f, "
                     + "proj %.1f, MLP %.1f, patch %.1f, neck %.1f); PyTorch's %.1f G include the padded "
                     + "windows' projections",
                     flops.total / 1e9, flops.qkv / 1e9, flops.attention / 1e9, flops.relativePosition / 1e9,
                     flops.projection / 1e9, flops.mlp / 1e9, flops.patchEmbed / 1e9, flops.neck / 1e9,
                     EncoderFLOPs(config: config).total / 1e9))
        let weights = try loaded ?? ImageEncoderWeights.random(config: config, seed: seed)
        let image = CounterRNG(seed: seed, stream: 1).normals(3 * config.imageSize * config.imageSize)
        var outputs: [EncoderPrecision: [Float]] = [:]
        print("weights \(megabytes(4 * weights.parameterCount)) MB")
        if try precisions().contains(.bf16) {
            let wait = ProcessInfo.processInfo.environment["OMP_WAIT_POLICY"] ?? "unset"
            print("bf16: \(BFloat16Linear.support); OMP_WAIT_POLICY \(wait) (launch.sh: PASSIVE)")
        }

        var rows: [Measurement] = []
        for p in try precisions() {
            let encoder = try ImageEncoder(weights: weights, precision: p)
            var output = [Float](repeating: 0, count: config.outChannels * config.gridSize * config.gridSize)
            rows += measure(encoder, threads: try threadCounts(), image: image, output: &output, flops: flops)
            outputs[p] = output
        }
        report(rows, flops: flops)
        if let reference = outputs[.fp32], let reduced = outputs[.bf16] {
            summarise(rows, cosine: VectorSimilarity.cosine(reference, reduced))
        }
    }

    /// Every thread count's timing of `encoder` (one warm-up pass, then `repeats`); output holds the embedding.
    private func measure(_ encoder: ImageEncoder, threads: [Int], image: [Float], output: inout [Float],
                         flops: EncoderFLOPs) -> [Measurement] {
        let config = encoder.config
        var rows: [Measurement] = []
        for t in threads {
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
            // Real passes and products-only passes alternate, so a drift of the machine's speed
            // (shared VMs drift 10-30 % between minutes) hits both sides of the roofline ratio alike.
            var (total, cpu, fastest, products) = (0.0, 0.0, Double.infinity, Double.infinity)
            for _ in 0..<repeats {
                let (start, cpuStart) = (DispatchTime.now().uptimeNanoseconds, BenchHarness.usage().cpuSeconds)
                pass()
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
                (total, cpu, fastest) = (total + seconds, cpu + BenchHarness.usage().cpuSeconds - cpuStart,
                                         min(fastest, seconds))
                products = min(products, productSeconds(encoder, image: image, output: &output, workspace: workspace))
            }
            let seconds = total / Double(repeats)
            let (usage, timings) = (BenchHarness.usage(), workspace.timings)
            pass()   // the embedding the caller compares, not the products-only values
            rows.append(Measurement(threads: t, precision: encoder.precision, seconds: seconds,
                                    cpuSeconds: cpu / Double(repeats), productSeconds: products,
                                    timings: timings, peakMegabytes: usage.peakMegabytes))
            print(String(format: "threads %d, %@: %.2f s/image (mean; fastest %.2f), %.1f GFLOP/s, workspace %@ MB; "
                         + "its GEMMs alone %.2f s (%.1f GFLOP/s): %.0f %% of that roofline (fastest passes)", t,
                         encoder.precision.rawValue, seconds, fastest, flops.total / seconds / 1e9,
                         megabytes(workspace.byteCount), products, flops.total / products / 1e9,
                         100 * products / fastest))
        }
        return rows
    }

    /// Seconds of one pass of the encoder's matrix products alone (`forwardProductsOnly`: same shapes,
    /// precision, blocking and threading; no element-wise work).
    private func productSeconds(_ encoder: ImageEncoder, image: [Float], output: inout [Float],
                                workspace: ImageEncoderWorkspace) -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        image.withUnsafeBufferPointer { x in
            output.withUnsafeMutableBufferPointer { y in
                encoder.forwardProductsOnly(output: y.baseAddress!, images: x.baseAddress!, workspace: workspace)
            }
        }
        return Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
    }

    /// The bf16 rows against the fp32 ones: speed-up per thread count and the embeddings' agreement.
    private func summarise(_ rows: [Measurement], cosine: Double) {
        print("")
        for bf16 in rows where bf16.precision == .bf16 {
            guard let fp32 = rows.first(where: { $0.precision == .fp32 && $0.threads == bf16.threads }) else {
                continue
            }
            print(String(format: "bf16 vs fp32, %d thread(s): %.2fx faster (%.2f s vs %.2f s per image); ceiling "
                         + "%.2fx if everything but the bf16 products were free (%.2f s)", bf16.threads,
                         fp32.seconds / bf16.seconds, bf16.seconds, fp32.seconds,
                         fp32.seconds / bf16.productSeconds, bf16.productSeconds))
        }
        print(String(format: "embedding cosine similarity bf16 vs fp32: %.6f", cosine))
    }

    /// One thread count's result; stage times are totals over the timed repeats.
    private struct Measurement {
        var threads: Int, precision: EncoderPrecision, seconds: Double, cpuSeconds: Double
        /// The matrix products alone (`forwardProductsOnly`).
        var productSeconds: Double
        var timings: ImageEncoderTimings
        var peakMegabytes: Double
    }

    private func report(_ rows: [Measurement], flops: EncoderFLOPs) {
        func line(_ name: String, _ value: (Measurement) -> String) {
            let cells = rows.map { row -> String in
                let text = value(row)
                return String(repeating: " ", count: max(0, 12 - text.count)) + text
            }
            print(name.padding(toLength: 26, withPad: " ", startingAt: 0) + cells.joined())
        }
        print("")
        line("stage (s/image)") { "\($0.threads) thr" + ($0.precision == .fp32 ? "" : " \($0.precision.rawValue)") }
        for stage in ImageEncoderTimings.Stage.allCases {
            line(stage.rawValue) { String(format: "%.3f", ($0.timings.seconds[stage] ?? 0) / Double(repeats)) }
        }
        line("total s/image") { String(format: "%.3f", $0.seconds) }
        line("CPU s/image (all threads)") { String(format: "%.3f", $0.cpuSeconds) }
        line("GFLOP/s") { String(format: "%.1f", flops.total / $0.seconds / 1e9) }
        line("GEMMs alone s/image") { String(format: "%.3f", $0.productSeconds) }
        line("GEMMs alone GFLOP/s") { String(format: "%.1f", flops.total / $0.productSeconds / 1e9) }
        line("peak RSS (MB, so far)") { String(format: "%.0f", $0.peakMegabytes) }
    }

    private func config() -> EncoderConfig {
        var c = EncoderConfig.preset(named: preset) ?? .vitB
        if let imageSize { c.imageSize = imageSize }
        return c
    }

    private func threadCounts() throws -> [Int] { try BenchHarness.threadCounts(threads) }

    /// The `--precision` list; bf16 is refused with the reason where the CPU lacks the instructions.
    private func precisions() throws -> [EncoderPrecision] {
        try precision.split(separator: ",").map { name in
            guard let p = EncoderPrecision(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("--precision: unknown '\(name)'; use fp32, bf16 or fp32,bf16")
            }
            if p == .bf16 && !BFloat16Linear.support.available {
                throw ValidationError("--precision bf16: \(BFloat16Linear.support)")
            }
            return p
        }
    }

    private func megabytes(_ bytes: Int) -> String { String(format: "%.0f", Double(bytes) / 1_048_576) }

}
