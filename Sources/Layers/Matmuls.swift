import CDNNL
import Foundation
import Tensors

/// One oneDNN matmul shape: C (m, n) f32 = A (m, k) @ B (k, n) (+ bias (1, n) f32) with A and B in
/// bfloat16 (or float32), each matrix with its own row and column strides (elements), so transposed and
/// strided views need no copy; optionally scaled, followed by exact (erf) GELU, or stored as bfloat16.
struct MatmulKey: Hashable {
    var m, k, n: Int
    var aStrides, bStrides, cStrides: [Int64]
    var bias: Bool
    /// OpenMP team size the primitive was made for (set by `Matmuls.run`).
    var threads = 0
    /// C <- GELU(C) (oneDNN's `gelu_erf` post-op) before it is stored.
    var gelu = false
    /// C stored as bfloat16 (round to nearest even) instead of float32.
    var bfloat16Output = false
    /// A and B in float32 instead of bfloat16 (a float32 oneDNN matmul).
    var float32Inputs = false
    /// C <- scale * (A @ B) (an output scale fixed at creation; 1: none).
    var outputScale: Float = 1

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
        precondition(!key.bfloat16Output && !key.float32Inputs, "bfloat16 inputs and a float32 output")
        run(key, threads: threads, destination: UnsafeMutableRawPointer(c), a: a, b: b, bias: bias)
    }

    /// `run` for a key with `float32Inputs`: A, B and C float32.
    func run(_ key: MatmulKey, threads: Int, c: UnsafeMutablePointer<Float>, a: UnsafePointer<Float>,
             b: UnsafePointer<Float>, bias: UnsafePointer<Float>? = nil) {
        precondition(key.float32Inputs && !key.bfloat16Output, "float32 inputs and output")
        run(key, threads: threads, destination: UnsafeMutableRawPointer(c), a: a, b: b, bias: bias)
    }

    /// `run` for a key with `bfloat16Output`: C is bfloat16 bits.
    func run(_ key: MatmulKey, threads: Int, c: UnsafeMutablePointer<UInt16>, a: UnsafePointer<UInt16>,
             b: UnsafePointer<UInt16>, bias: UnsafePointer<Float>? = nil) {
        precondition(key.bfloat16Output && !key.float32Inputs, "bfloat16 inputs and a bfloat16 output")
        run(key, threads: threads, destination: UnsafeMutableRawPointer(c), a: a, b: b, bias: bias)
    }

    private func run(_ key: MatmulKey, threads: Int, destination c: UnsafeMutableRawPointer, a: UnsafeRawPointer,
                     b: UnsafeRawPointer, bias: UnsafePointer<Float>?) {
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
        let inputType = key.float32Inputs ? dnnl_f32 : dnnl_bf16
        var result = Matmul(primitive: nil, source: desc([m, k], inputType, key.aStrides),
                            weights: desc([k, n], inputType, key.bStrides), bias: desc([1, n], dnnl_f32, [n, 1]),
                            destination: desc([m, n], key.bfloat16Output ? dnnl_bf16 : dnnl_f32, key.cStrides),
                            scratchpad: dnnl_memory_desc_t(), scratchpadBytes: 0)
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
        if key.outputScale != 1 {
            var scale = key.outputScale
            check(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &scale), "output scale")
        }
        if key.gelu {
            var postOps: dnnl_post_ops_t?
            check(dnnl_post_ops_create(&postOps), "post-ops")
            defer { dnnl_post_ops_destroy(postOps) }
            check(dnnl_post_ops_append_eltwise(postOps, 1, dnnl_eltwise_gelu_erf, 0, 0), "GELU post-op")
            check(dnnl_primitive_attr_set_post_ops(attr, postOps), "post-op attribute")
        }
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
