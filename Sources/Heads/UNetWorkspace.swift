/// An Int32 buffer owned by a workspace (max-pool argmax positions).
final class IndexBuffer {
    let pointer: UnsafeMutablePointer<Int32>

    init(count: Int) {
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    deinit { pointer.deallocate() }
}

/// Saved activations and gradient buffers of a `UNet`, sized for one input geometry (B, C, S, S)
/// and reused while it stays the same.
///
/// Per value v: `values[v]` (B, C_v, H_v, W_v) and its gradient `gradients[v]` (same size; empty
/// for the input, which gets no gradient). Per unit u: for a `convNormReLU` the convolution
/// output before normalisation `preNorm[u]` (B, O, H, W) and the instance-norm statistics
/// `means[u]`, `rstds[u]` (B, O); for a `maxPool` the argmax positions `indices[u]` (B, C, H/2, W/2).
/// Two scratch buffers as large as the largest value serve the convNormReLU backward.
/// Prepared for the first `unitCount` units only (the encoder path, `UNet.encoderUnitCount`),
/// the values and statistics of the later units stay empty.
public final class UNetWorkspace {
    /// (B, C, H, W) of the input the buffers are sized for; empty before the first forward.
    public private(set) var inputShape: [Int] = []
    private(set) var values: [FloatBuffer] = [], gradients: [FloatBuffer] = []
    private(set) var shapes: [FeatureShape] = []
    private(set) var preNorm: [FloatBuffer?] = [], means: [FloatBuffer?] = [], rstds: [FloatBuffer?] = []
    private(set) var indices: [IndexBuffer?] = []
    private(set) var scratch = FloatBuffer(count: 0), scratch2 = FloatBuffer(count: 0)
    private var network: UNet?
    private var unitCount = 0

    public init() {}

    var batch: Int { inputShape[0] }

    /// Elements of value `v`.
    func count(ofValue v: Int) -> Int { batch * shapes[v].count }

    /// Sizes every buffer of the first `units` units (default all) of `net` on input (B, C, H, W);
    /// keeps them when nothing changed.
    func prepare(_ net: UNet, inputShape shape: [Int], units: Int? = nil) {
        let units = units ?? net.units.count
        guard shape != inputShape || net != network || units != unitCount else { return }
        precondition(shape.count == 4 && shape[0] > 0 && shape[1] == net.inputChannels,
                     "UNet expects (B, \(net.inputChannels), H, W), got \(shape)")
        let multiple = 1 << net.levels
        precondition(shape[2] % multiple == 0 && shape[3] % multiple == 0,
                     "UNet with \(net.levels) levels needs a grid divisible by \(multiple), "
                     + "got \(shape[2]) x \(shape[3])")
        (inputShape, network, unitCount) = (shape, net, units)
        shapes = net.valueChannels.indices.map { net.shape(ofValue: $0, height: shape[2], width: shape[3]) }
        let used = units == 0 ? 0 : net.units[units - 1].output       // the last value computed
        values = shapes.indices.map { FloatBuffer(count: $0 <= used ? count(ofValue: $0) : 0) }
        gradients = shapes.indices.map { FloatBuffer(count: $0 == 0 || $0 > used ? 0 : count(ofValue: $0)) }
        preNorm = []; means = []; rstds = []; indices = []
        for unit in net.units.prefix(units) {
            let out = count(ofValue: unit.output)
            let isConv: Bool
            if case .convNormReLU = unit.op { isConv = true } else { isConv = false }
            preNorm.append(isConv ? FloatBuffer(count: out) : nil)
            means.append(isConv ? FloatBuffer(count: batch * shapes[unit.output].channels) : nil)
            rstds.append(isConv ? FloatBuffer(count: batch * shapes[unit.output].channels) : nil)
            indices.append(unit.op == .maxPool ? IndexBuffer(count: out) : nil)
        }
        let largest = values.map(\.count).max() ?? 0
        scratch = FloatBuffer(count: largest)
        scratch2 = FloatBuffer(count: largest)
    }
}
