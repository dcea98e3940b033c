import ArgumentParser
import Foundation
import Tensors

/// `autosam bench`: comparable performance numbers (release builds only mean anything).
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print performance numbers for the compute kernels.",
        subcommands: [GemmBench.self, EncoderBenchCommand.self, HeadBenchCommand.self, BaselineBenchCommand.self,
                      StopBenchCommand.self, PlanBenchCommand.self],
        defaultSubcommand: GemmBench.self
    )
}

/// sgemm GFLOP/s on the square reference shape and the ViT-B linear-layer shapes.
struct GemmBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm",
        abstract: "sgemm GFLOP/s for 1024^3 and the ViT-B shapes, with 1 and 2 threads, and the OpenBLAS core in use."
    )

    @Option(help: "Thread counts to measure, comma separated.")
    var threads: String = "1,2"

    @Option(help: "Seconds to spend per measurement (after one warm-up call).")
    var seconds: Double = 1.5

    func run() throws {
        let threadCounts = try BenchHarness.threadCounts(threads)
        print(BenchHarness.machineLine)
        let shapes: [(String, Int, Int, Int)] = [
            ("square 1024^3", 1024, 1024, 1024),
            ("ViT-B qkv   4096x768x2304", 4096, 2304, 768),
            ("ViT-B mlp2  4096x3072x768", 4096, 768, 3072),
        ]
        print("shape (M x K x N)                threads   GFLOP/s   ms/call")
        for (name, m, n, k) in shapes {
            for t in threadCounts {
                BLASRuntime.setThreads(t)
                let (gflops, ms) = measure(m: m, n: n, k: k)
                print(name.padding(toLength: 33, withPad: " ", startingAt: 0)
                      + String(format: "%7d %9.1f %9.2f", t, gflops, ms))
            }
        }
    }

    private func measure(m: Int, n: Int, k: Int) -> (Double, Double) {
        let rng = CounterRNG(seed: 1)
        let a = rng.uniforms(m * k, low: -1, high: 1)
        let b = rng.uniforms(k * n, start: UInt64(m * k), low: -1, high: 1)
        var c = [Float](repeating: 0, count: m * n)
        func call() {
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    c.withUnsafeMutableBufferPointer { pc in
                        Gemm.sgemm(m: m, n: n, k: k, a: pa.baseAddress!, lda: k, b: pb.baseAddress!, ldb: n,
                                   c: pc.baseAddress!, ldc: n)
                    }
                }
            }
        }
        call()
        var calls = 0
        let start = Date()
        repeat { call(); calls += 1 } while Date().timeIntervalSince(start) < seconds
        let elapsed = Date().timeIntervalSince(start)
        return (2.0 * Double(m * n * k) * Double(calls) / elapsed / 1e9, elapsed / Double(calls) * 1000)
    }
}
