import Layers
import Tensors

/// The arithmetic of the image encoder's large linears (qkv, projection, MLP: ~75 % of its FLOPs).
public enum EncoderPrecision: String, Sendable, CaseIterable {
    /// float32 everywhere (OpenBLAS sgemm): the reference.
    case fp32
    /// Those linears and the attention's two per-head products with bfloat16 inputs and weights and
    /// float32 accumulation (oneDNN); the MLP's GELU runs on lin1's float32 accumulators (a oneDNN
    /// epilogue) before its output is rounded for lin2. Softmax, norms and residuals stay float32.
    /// Needs AVX512-BF16 or AMX.
    case bf16
}

/// The encoder cannot run at the requested precision here.
public struct EncoderPrecisionError: Error, CustomStringConvertible {
    public let precision: EncoderPrecision
    public let reason: String
    public var description: String {
        "encoder precision \(precision.rawValue) is not available on this CPU: \(reason); use fp32"
    }
}

/// bfloat16 copies of the weights of every block's qkv, projection and MLP linears, made once.
final class ReducedEncoderWeights: @unchecked Sendable {
    struct Block {
        let qkv, proj, lin1, lin2: UnsafeMutablePointer<UInt16>
    }

    let blocks: [Block]

    init(_ w: ImageEncoderWeights) {
        blocks = w.blocks.map { b in
            Block(qkv: BFloat16.copy(w[b.attnQkvWeight], count: b.attnQkvWeight.count),
                  proj: BFloat16.copy(w[b.attnProjWeight], count: b.attnProjWeight.count),
                  lin1: BFloat16.copy(w[b.mlpLin1Weight], count: b.mlpLin1Weight.count),
                  lin2: BFloat16.copy(w[b.mlpLin2Weight], count: b.mlpLin2Weight.count))
        }
    }

    deinit {
        for b in blocks { [b.qkv, b.proj, b.lin1, b.lin2].forEach { $0.deallocate() } }
    }
}

extension ImageEncoder {
    /// The encoder on `weights` at `precision`; throws `EncoderPrecisionError` when this CPU lacks
    /// the instructions (bf16 without AVX512-BF16 or AMX), naming what oneDNN sees.
    public init(weights: ImageEncoderWeights, precision: EncoderPrecision) throws {
        self.init(weights: weights)
        guard precision == .bf16 else { return }
        guard BFloat16Linear.support.available else {
            throw EncoderPrecisionError(precision: precision, reason: BFloat16Linear.support.description)
        }
        reduced = ReducedEncoderWeights(weights)
    }

    /// The precision of the large linears.
    public var precision: EncoderPrecision { reduced == nil ? .fp32 : .bf16 }

}
