import CDNNL
import Foundation
import Tensors

/// `y = x @ W^T + b` with x and W in bfloat16 and float32 accumulation and output, through
/// oneDNN's matmul (its brgemm kernels use AVX512-BF16 `vdpbf16ps` or AMX tiles). The optional
/// reduced-precision encoder path (`encoder.precision = bf16`) runs its large linears here.
///
/// x (rows, in) float32 is rounded to bfloat16 per call (one pass over rows x in, against a GEMM
/// of rows x in x out); W (out, in) is bfloat16 bits prepared once (`BFloat16.copy`); bias (out)
/// and y (rows, out) stay float32. Measured (AMD EPYC Zen 4, 2 threads, 4096 x 768 x 3072):
/// 420 GFLOP/s against OpenBLAS sgemm's 180.
///
/// Only where `support.available`: on CPUs without bf16 dot-product instructions oneDNN would
/// emulate them far slower than float32, so callers refuse the option there (never silently).
public enum BFloat16Linear {
    /// Whether this CPU runs bfloat16 matmuls natively, and the instruction set oneDNN dispatches to.
    public struct Support: Sendable, CustomStringConvertible {
        public let available: Bool
        /// oneDNN's name for the best instruction set it can use here, e.g. `avx512_core_bf16`.
        public let instructionSet: String

        public var description: String {
            available ? "bfloat16 matmuls on \(instructionSet) (oneDNN \(Self.version))"
                : "no bfloat16 matrix instructions (oneDNN sees \(instructionSet); needs AVX512-BF16 or AMX)"
        }

        static var version: String {
            guard let v = dnnl_version() else { return "?" }
            return "\(v.pointee.major).\(v.pointee.minor).\(v.pointee.patch)"
        }
    }

    public static let support: Support = {
        let isa = dnnl_get_effective_cpu_isa().rawValue
        let bf16 = dnnl_cpu_isa_avx512_core_bf16.rawValue
        let names: [(UInt32, String)] = [
            (dnnl_cpu_isa_avx512_core_amx.rawValue, "avx512_core_amx"), (bf16, "avx512_core_bf16"),
            (dnnl_cpu_isa_avx512_core_vnni.rawValue, "avx512_core_vnni"),
            (dnnl_cpu_isa_avx512_core.rawValue, "avx512_core"), (dnnl_cpu_isa_avx2_vnni.rawValue, "avx2_vnni"),
            (dnnl_cpu_isa_avx2.rawValue, "avx2"), (dnnl_cpu_isa_avx.rawValue, "avx"),
            (dnnl_cpu_isa_sse41.rawValue, "sse41"),
        ]
        let name = names.first { isa & $0.0 == $0.0 }?.1 ?? "unknown"
        return Support(available: isa & bf16 == bf16, instructionSet: name)
    }()

    /// y (rows, out) <- x (rows, in) @ weight^T + bias; weight (out, in) bfloat16 bits.
    public static func forward(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<UInt16>,
                               bias: UnsafePointer<Float>?, rows: Int, inFeatures: Int, outFeatures: Int) {
        precondition(support.available, "bfloat16 linear on a CPU without bfloat16 instructions: \(support)")
        let input = UnsafeMutablePointer<UInt16>.allocate(capacity: max(rows * inFeatures, 1))
        defer { input.deallocate() }
        BFloat16.convert(x, to: input, count: rows * inFeatures)
        let key = MatmulKey(rows: rows, inFeatures: inFeatures, outFeatures: outFeatures, bias: bias != nil)
        Matmuls.shared.run(key, threads: BLASRuntime.threads, c: y, a: input, b: weight, bias: bias)
    }
}

extension Linear {
    /// `Linear.forward` in float32, or with bfloat16 inputs and weights when `bfloat16` (W's
    /// bfloat16 copy) is given.
    public static func forward(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                               bfloat16: UnsafePointer<UInt16>?, bias: UnsafePointer<Float>?, rows: Int,
                               inFeatures: Int, outFeatures: Int) {
        if let bfloat16 {
            BFloat16Linear.forward(y: y, x: x, weight: bfloat16, bias: bias, rows: rows, inFeatures: inFeatures,
                                   outFeatures: outFeatures)
        } else {
            forward(y: y, x: x, weight: weight, bias: bias, rows: rows, inFeatures: inFeatures,
                    outFeatures: outFeatures)
        }
    }
}

/// One bfloat16 matmul shape: C (m, n) f32 = A (m, k) bf16 @ B (k, n) bf16 (+ bias (1, n) f32), each
/// matrix with its own row and column strides (elements), so transposed and strided views need no copy.
struct MatmulKey: Hashable {
    var m, k, n: Int
    var aStrides, bStrides, cStrides: [Int64]
    var bias: Bool
    /// OpenMP team size the primitive was made for (set by `Matmuls.run`).
    var threads = 0

    /// x (rows, in) @ W^T with W (out, in) row-major, y (rows, out) dense.
    init(rows: Int, inFeatures: Int, outFeatures: Int, bias: Bool) {
        self.init(m: rows, k: inFeatures, n: outFeatures, aStrides: [Int64(inFeatures), 1],
                  bStrides: [1, Int64(inFeatures)], cStrides: [Int64(outFeatures), 1], bias: bias)
    }

    init(m: Int, k: Int, n: Int, aStrides: [Int64], bStrides: [Int64], cStrides: [Int64], bias: Bool = false) {
        (self.m, self.k, self.n, self.aStrides, self.bStrides, self.cStrides, self.bias) =
            (m, k, n, aStrides, bStrides, cStrides, bias)
    }
}

/// oneDNN's engine and one matmul primitive per shape, created on first use and kept for the
/// process. Primitives use caller-provided scratchpads, so any number of threads may run them at
/// once: `threads` sets the OpenMP team of the calling thread (1 inside per-head work that already
/// runs one item per core).
final class Matmuls: @unchecked Sendable {
    static let shared = Matmuls()

    private let lock = NSLock()
    private var engine: dnnl_engine_t?
    private var primitives: [MatmulKey: Matmul] = [:]

    struct Matmul {
        var primitive: dnnl_primitive_t?
        var source, weights, bias, destination, scratchpad: dnnl_memory_desc_t
        var scratchpadBytes: Int
    }

    private init() {
        check(dnnl_engine_create(&engine, dnnl_cpu, 0), "engine")
    }

    func run(_ key: MatmulKey, threads: Int, c: UnsafeMutablePointer<Float>, a: UnsafePointer<UInt16>,
             b: UnsafePointer<UInt16>, bias: UnsafePointer<Float>? = nil) {
        // oneDNN plans a primitive's parallel split for the calling thread's OpenMP team size at
        // creation, so primitives are kept per team size: one made for 1 thread would run a later
        // 2-thread call on one core.
        omp_set_num_threads(Int32(threads))
        var key = key
        key.threads = threads
        lock.lock()
        var m = primitives[key] ?? make(key)
        primitives[key] = m
        lock.unlock()
        var stream: dnnl_stream_t?
        check(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue), "stream")
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: max(m.scratchpadBytes, 64), alignment: 64)
        var memories: [dnnl_memory_t?] = []
        defer {
            for handle in memories { dnnl_memory_destroy(handle) }
            dnnl_stream_destroy(stream)
            scratch.deallocate()
        }
        func memory(_ desc: inout dnnl_memory_desc_t, _ pointer: UnsafeRawPointer) -> dnnl_memory_t? {
            var handle: dnnl_memory_t?
            check(dnnl_memory_create(&handle, &desc, engine, UnsafeMutableRawPointer(mutating: pointer)), "memory")
            memories.append(handle)
            return handle
        }
        var args = [dnnl_exec_arg_t(arg: DNNL_ARG_SRC, memory: memory(&m.source, a)),
                    dnnl_exec_arg_t(arg: DNNL_ARG_WEIGHTS, memory: memory(&m.weights, b)),
                    dnnl_exec_arg_t(arg: DNNL_ARG_DST, memory: memory(&m.destination, c)),
                    dnnl_exec_arg_t(arg: DNNL_ARG_SCRATCHPAD, memory: memory(&m.scratchpad, scratch))]
        if let bias { args.append(dnnl_exec_arg_t(arg: DNNL_ARG_BIAS, memory: memory(&m.bias, bias))) }
        check(dnnl_primitive_execute(m.primitive, stream, Int32(args.count), &args), "matmul execute")
        check(dnnl_stream_wait(stream), "stream wait")
    }

    /// The OpenMP team sizes holding a primitive for this shape (any `threads` in `key`).
    func teamSizes(_ key: MatmulKey) -> [Int] {
        lock.lock()
        defer { lock.unlock() }
        return primitives.keys.filter { var k = $0; k.threads = key.threads; return k == key }.map(\.threads).sorted()
    }

    private func make(_ key: MatmulKey) -> Matmul {
        func desc(_ dims: [Int64], _ type: dnnl_data_type_t, _ strides: [Int64]) -> dnnl_memory_desc_t {
            var d = dnnl_memory_desc_t()
            check(dnnl_memory_desc_init_by_strides(&d, 2, dims, type, strides), "memory descriptor")
            return d
        }
        let (m, k, n) = (Int64(key.m), Int64(key.k), Int64(key.n))
        var result = Matmul(primitive: nil, source: desc([m, k], dnnl_bf16, key.aStrides),
                            weights: desc([k, n], dnnl_bf16, key.bStrides), bias: desc([1, n], dnnl_f32, [n, 1]),
                            destination: desc([m, n], dnnl_f32, key.cStrides), scratchpad: dnnl_memory_desc_t(),
                            scratchpadBytes: 0)
        var op = dnnl_matmul_desc_t()
        if key.bias {
            check(dnnl_matmul_desc_init(&op, &result.source, &result.weights, &result.bias, &result.destination),
                  "matmul descriptor")
        } else {
            check(dnnl_matmul_desc_init(&op, &result.source, &result.weights, nil, &result.destination),
                  "matmul descriptor")
        }
        var attr: dnnl_primitive_attr_t?
        check(dnnl_primitive_attr_create(&attr), "attributes")
        defer { dnnl_primitive_attr_destroy(attr) }
        check(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "scratchpad mode")
        var pd: dnnl_primitive_desc_t?
        check(dnnl_primitive_desc_create(&pd, &op, attr, engine, nil), "matmul primitive descriptor")
        defer { dnnl_primitive_desc_destroy(pd) }
        if let scratch = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0) {
            result.scratchpad = scratch.pointee
            result.scratchpadBytes = dnnl_memory_desc_get_size(scratch)
        }
        check(dnnl_primitive_create(&result.primitive, pd), "matmul primitive")
        return result
    }
}

private func check(_ status: dnnl_status_t, _ what: String) {
    precondition(status == dnnl_success, "oneDNN \(what) failed (status \(status.rawValue))")
}
