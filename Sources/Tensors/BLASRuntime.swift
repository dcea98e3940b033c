import CBLAS
#if canImport(Glibc)
import Glibc
#endif

/// OpenBLAS process state: the kernel family in use and the thread count.
///
/// OpenBLAS 0.3.21 does not know recent Xeons (Emerald Rapids) and falls back to its Prescott
/// (SSE3) kernels, 5-8x slower than SkylakeX on the same CPU (PLATFORM.md). `configure()` runs once,
/// before any BLAS call made through `Gemm`: when the user has not set `OPENBLAS_CORETYPE` and the
/// detected kernel family is clearly below what the CPU's flags support, it selects the matching
/// family in place (DYNAMIC_ARCH tables are re-initialised, no re-exec needed). A correctly
/// detected CPU, a user's explicit choice, or a non-x86 machine is left alone.
public enum BLASRuntime {
    /// What `configure()` did, for logs and benchmarks.
    public struct Selection: Sendable, CustomStringConvertible {
        public let detectedCore: String
        public let activeCore: String
        public let overridden: Bool
        public var description: String {
            overridden ? "\(activeCore) (OpenBLAS detected \(detectedCore), overridden)" : activeCore
        }
    }

    /// Configured once per process; the first `Gemm` call or any explicit caller triggers it (and
    /// with it the process's `HeapPolicy`).
    public static let selection: Selection = configure()

    /// Currently active OpenBLAS kernel family name.
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    public static var threads: Int {
        _ = selection
        return Int(openblas_get_num_threads())
    }

    /// The CPU model as /proc/cpuinfo names it ("unknown" elsewhere), printed by the benchmarks.
    public static var cpuModel: String { CPUFeatures.cpuinfoValue("model name") ?? "unknown" }

    /// The fastest kernel family this CPU's flags support (nil off x86 or when unknown).
    public static var bestCoreForThisCPU: String? { CPUFeatures.current.bestOpenBLASCore }

    /// Sets OpenBLAS's thread count for subsequent calls (process-wide).
    public static func setThreads(_ n: Int) {
        precondition(n >= 1, "thread count must be >= 1")
        _ = selection
        openblas_set_num_threads(Int32(n))
    }

    /// log2 of the CPU cycles an idle OpenBLAS worker spins (calling `sched_yield`) before it sleeps,
    /// unless the user set `OPENBLAS_THREAD_TIMEOUT`. OpenBLAS's default, 2^28 cycles (about 0.1 s),
    /// keeps its workers spinning through the element-wise passes and the one-item-per-core phases
    /// (`RowParallel`) that run between GEMMs on the same cores: on 2 cores the AutoSAM head step took
    /// 1.58-2.09 s with the default and 1.40-1.45 s with 2^4 (OpenBLAS's minimum); the encoder, CNN
    /// head, linear head and UNet were unchanged or faster (README, Performance).
    public static let idleSpinExponent = 4

    private static func configure() -> Selection {
        HeapPolicy.keepFreedMemory()
        shortenIdleSpinning()
        let detected = coreName
        guard getenv("OPENBLAS_CORETYPE") == nil,
              let wanted = CPUFeatures.current.bestOpenBLASCore,
              coreLevel(detected) < coreLevel(wanted) else {
            return Selection(detectedCore: detected, activeCore: detected, overridden: false)
        }
        setenv("OPENBLAS_CORETYPE", wanted, 1)
        gotoblas_dynamic_quit()
        gotoblas_dynamic_init()
        return Selection(detectedCore: detected, activeCore: coreName, overridden: true)
    }

    /// Restarts OpenBLAS's worker threads with `idleSpinExponent` as their spin timeout (read only
    /// when the pool starts, which happens when the library loads): `openblas_read_env` re-reads the
    /// OPENBLAS_* variables, `blas_thread_shutdown_` joins the workers, `blas_thread_init` starts them
    /// again. The three are looked up at run time, so an OpenBLAS build without a thread pool (the
    /// serial variant) is simply left as it is. A user's `OPENBLAS_THREAD_TIMEOUT` is left alone.
    private static func shortenIdleSpinning() {
        #if canImport(Glibc)
        typealias Call = @convention(c) () -> Int32
        guard getenv("OPENBLAS_THREAD_TIMEOUT") == nil,
              let readEnvironment = dlsym(nil, "openblas_read_env"),
              let shutdown = dlsym(nil, "blas_thread_shutdown_"), let start = dlsym(nil, "blas_thread_init")
        else { return }
        setenv("OPENBLAS_THREAD_TIMEOUT", String(idleSpinExponent), 1)
        unsafeBitCast(readEnvironment, to: (@convention(c) () -> Void).self)()
        _ = unsafeBitCast(shutdown, to: Call.self)()
        _ = unsafeBitCast(start, to: Call.self)()
        #endif
    }

    /// Vector ISA level of an OpenBLAS x86 kernel family: 0 SSE-era, 1 AVX, 2 AVX2, 3 AVX-512.
    public static func coreLevel(_ name: String) -> Int {
        switch name.lowercased() {
        case "skylakex", "cooperlake", "sapphirerapids": return 3
        case "haswell", "zen", "excavator", "steamroller", "piledriver": return 2
        case "sandybridge", "bulldozer": return 1
        default: return 0
        }
    }
}

/// The CPU's vector features as the kernel reports them (Linux `/proc/cpuinfo`).
struct CPUFeatures {
    let flags: Set<String>

    static let current = CPUFeatures(flags: readFlags())

    /// The fastest OpenBLAS 0.3.21 kernel family these flags can run, nil if not x86 or unknown.
    var bestOpenBLASCore: String? {
        if ["avx512f", "avx512bw", "avx512vl", "avx512dq"].allSatisfy(flags.contains) { return "SkylakeX" }
        if ["avx2", "fma"].allSatisfy(flags.contains) { return "Haswell" }
        if flags.contains("avx") { return "Sandybridge" }
        return nil
    }

    private static func readFlags() -> Set<String> {
        let values = cpuinfoValue("flags") ?? ""
        return Set(values.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))
    }

    /// The value of the first /proc/cpuinfo line whose key is `key`, trimmed.
    static func cpuinfoValue(_ key: String) -> String? {
        guard let file = fopen("/proc/cpuinfo", "r") else { return nil }
        defer { fclose(file) }
        var line: UnsafeMutablePointer<CChar>? = nil
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, file) > 0 {
            let text = String(cString: line!)
            let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            func trimmed(_ s: Substring) -> String {
                String(s.drop(while: { $0.isWhitespace }).reversed().drop(while: { $0.isWhitespace }).reversed())
            }
            if parts.count == 2, trimmed(parts[0]) == key { return trimmed(parts[1]) }
        }
        return nil
    }
}
