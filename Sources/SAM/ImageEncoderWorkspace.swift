import Foundation
import Layers

/// Scratch buffers of `ImageEncoder.forward` for one configuration and batch size, allocated once
/// and reused by every block and every call (one workspace per thread; not thread-safe).
/// It also accumulates per-stage wall-clock times over the calls it serves.
///
/// Shapes (B batch, g grid, C embed dim, M MLP dim, O out channels, N = B g g tokens,
/// W = B * windows * S * S padded window tokens, R = max(N, W) attention rows):
/// tokens (N, C) the residual stream (B, g, g, C); normed (N, C); scratch (W, C);
/// attended (R, C); qkv (R, 3C), which the MLP reuses as its hidden (N, M), so it holds
/// max(3 R C, N M); context (R, C); rowMean, rowRstd (N) the LayerNorm / LayerNorm2d statistics;
/// neck (B, O, g, g). scratch, attended and context are one allocation, in that order: a windowed
/// block's token-layout qkv (N, 3C) spans them until its partition into `qkv`, and its token-layout
/// context (N, C) then lives in `scratch` (`EncoderAttention.forwardWindowed`; W >= N there).
public final class ImageEncoderWorkspace {
    public let config: EncoderConfig
    public let batch: Int
    /// Per-stage times accumulated by the forward calls since the last `resetTimings()`.
    public private(set) var timings = ImageEncoderTimings()

    let tokens, normed, scratch, attended, qkv, context, rowMean, rowRstd, neck: UnsafeMutablePointer<Float>
    private let buffers: [UnsafeMutablePointer<Float>]

    /// Padded window tokens of one image: (ceil(g / S) S)^2, 0 without windowed blocks.
    static func windowTokensPerImage(_ c: EncoderConfig) -> Int {
        let windowed = (0..<c.depth).contains { !c.isGlobal($0) }
        guard windowed else { return 0 }
        let side = (c.gridSize + c.windowSize - 1) / c.windowSize * c.windowSize
        return side * side
    }

    public init(config c: EncoderConfig, batch: Int) {
        precondition(batch >= 1 && c.problems.isEmpty, "workspace for batch \(batch), config problems \(c.problems)")
        (config, self.batch) = (c, batch)
        let n = batch * c.gridSize * c.gridSize, e = c.embedDim
        let w = batch * Self.windowTokensPerImage(c), r = max(n, w)
        let neckCount = batch * c.outChannels * c.gridSize * c.gridSize
        let counts = [n * e, n * e, (w + 2 * r) * e, max(3 * r * e, n * c.mlpDim), n, n, neckCount]
        byteCount = 4 * counts.reduce(0, +)
        buffers = counts.map { UnsafeMutablePointer<Float>.allocate(capacity: max($0, 1)) }
        (tokens, normed, scratch, qkv) = (buffers[0], buffers[1], buffers[2], buffers[3])
        (attended, context) = (scratch + w * e, scratch + (w + r) * e)
        (rowMean, rowRstd, neck) = (buffers[4], buffers[5], buffers[6])
    }

    /// A windowed block's token-layout scratch (see the type's comment).
    var windowedScratch: EncoderAttention.TokenScratch {
        EncoderAttention.TokenScratch(qkv: scratch, context: scratch)
    }

    deinit { buffers.forEach { $0.deallocate() } }

    /// Bytes held by the scratch buffers.
    public let byteCount: Int

    public func resetTimings() { timings = ImageEncoderTimings() }

    /// Runs `body` and adds its wall-clock time to `stage`.
    @inline(__always)
    func timed<T>(_ stage: ImageEncoderTimings.Stage, _ body: () throws -> T) rethrows -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { timings.add(stage, nanoseconds: DispatchTime.now().uptimeNanoseconds - start) }
        return try body()
    }
}

/// Wall-clock seconds spent per encoder stage.
public struct ImageEncoderTimings: Sendable {
    public enum Stage: String, CaseIterable, Sendable {
        case patchEmbed = "patch embed + pos"
        case norms = "LayerNorm + residual"
        case attentionWindowed = "attention, windowed"
        case attentionGlobal = "attention, global"
        case mlpLinear = "MLP linears"
        case gelu = "GELU"
        case neck = "neck"
    }

    public private(set) var seconds: [Stage: Double] = [:]

    public init() {}

    public var total: Double { seconds.values.reduce(0, +) }

    mutating func add(_ stage: Stage, nanoseconds: UInt64) {
        seconds[stage, default: 0] += Double(nanoseconds) * 1e-9
    }
}
