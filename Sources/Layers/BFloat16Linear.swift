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
        /// oneDNN may use AVX-512 (`avx512_core` or better) here.
        public let hasAVX512: Bool

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
        let avx512 = dnnl_cpu_isa_avx512_core.rawValue
        return Support(available: isa & bf16 == bf16, instructionSet: name, hasAVX512: isa & avx512 == avx512)
    }()

    /// y (rows, out) <- x (rows, in) @ weight^T + bias; weight (out, in) bfloat16 bits.
    public static func forward(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<UInt16>,
                               bias: UnsafePointer<Float>?, rows: Int, inFeatures: Int, outFeatures: Int) {
        precondition(support.available, "bfloat16 linear on a CPU without bfloat16 instructions: \(support)")
        let input = BFloat16.copy(x, count: rows * inFeatures)
        defer { input.deallocate() }
        forward(y: y, bits: input, weight: weight, bias: bias, rows: rows, inFeatures: inFeatures,
                outFeatures: outFeatures)
    }

    /// `forward` on an input that already is bfloat16 bits (rows, in).
    public static func forward(y: UnsafeMutablePointer<Float>, bits x: UnsafePointer<UInt16>,
                               weight: UnsafePointer<UInt16>, bias: UnsafePointer<Float>?, rows: Int, inFeatures: Int,
                               outFeatures: Int) {
        precondition(support.available, "bfloat16 linear on a CPU without bfloat16 instructions: \(support)")
        let key = MatmulKey(rows: rows, inFeatures: inFeatures, outFeatures: outFeatures, bias: bias != nil)
        Matmuls.shared.run(key, threads: BLASRuntime.threads, c: y, a: x, b: weight, bias: bias)
    }

    /// y (rows, out) bfloat16 bits <- GELU(x (rows, in) @ weight^T + bias): the product, bias and exact
    /// (erf) GELU on the float32 accumulators (oneDNN's `gelu_erf` post-op), rounded once to bfloat16,
    /// ready to be the next bfloat16 linear's input (the encoder's MLP: no GELU pass, no second rounding
    /// pass, half the traffic for the hidden activations).
    public static func forwardGELU(bits y: UnsafeMutablePointer<UInt16>, x: UnsafePointer<Float>,
                                   weight: UnsafePointer<UInt16>, bias: UnsafePointer<Float>?, rows: Int,
                                   inFeatures: Int, outFeatures: Int) {
        precondition(support.available, "bfloat16 linear on a CPU without bfloat16 instructions: \(support)")
        let input = BFloat16.copy(x, count: rows * inFeatures)
        defer { input.deallocate() }
        var key = MatmulKey(rows: rows, inFeatures: inFeatures, outFeatures: outFeatures, bias: bias != nil)
        (key.gelu, key.bfloat16Output) = (true, true)
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
