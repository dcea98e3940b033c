import ArgumentParser
import Foundation
import Tensors
#if canImport(Glibc)
import Glibc
#endif

/// What every `autosam bench` command shares: the machine line each prints first (CPU model and
/// OpenBLAS kernel family, so numbers from different machines are comparable), the thread
/// options, a clock, medians and the process's resource usage.
enum BenchHarness {
    /// "CPU: <model>; OpenBLAS core <family>, N thread(s)".
    static var machineLine: String {
        "CPU: \(BLASRuntime.cpuModel); OpenBLAS core \(BLASRuntime.selection), \(BLASRuntime.threads) thread(s)"
    }

    /// Wall seconds of `body`.
    static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = Date()
        try body()
        return Date().timeIntervalSince(start)
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
    }

    /// This process's resource usage (getrusage): user + system CPU seconds and the peak resident
    /// set size (ru_maxrss, KiB on Linux) in MB.
    static func usage() -> (cpuSeconds: Double, peakMegabytes: Double) {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) * 1e-6 }
        return (seconds(u.ru_utime) + seconds(u.ru_stime), Double(u.ru_maxrss) / 1024)
    }

    /// Peak resident set size of the process so far, MB.
    static func peakResidentMB() -> Int { Int(usage().peakMegabytes) }

    /// "1,2" -> [1, 2]; anything but positive integers is a usage error naming `option`.
    static func threadCounts(_ text: String, option: String = "--threads") throws -> [Int] {
        try text.split(separator: ",").map { part in
            guard let n = Int(part.trimmingCharacters(in: .whitespaces)), n >= 1 else {
                throw ValidationError("\(option): '\(part)' is not a positive integer")
            }
            return n
        }
    }
}

/// `--threads N` of the benchmarks that run at one thread count.
struct BenchThreadOption: ParsableArguments {
    @Option(help: "OpenBLAS threads (default: leave the current setting).")
    var threads: Int?

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be positive, got \(threads)") }
    }

    /// Sets the thread count when given.
    func apply() {
        if let threads { BLASRuntime.setThreads(threads) }
    }
}
