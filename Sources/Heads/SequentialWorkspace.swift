/// A float buffer owned by a workspace (allocated once per batch geometry, freed with it).
final class FloatBuffer {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int

    init(count: Int) {
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    deinit { pointer.deallocate() }
}

/// Saved activations and gradient scratch of a `SequentialNetwork`, sized for one input
/// geometry (batch, channels, grid) and reused while the geometry stays the same.
///
/// Values: `values[0]` is a copy of the input; every layer except ReLU writes a new value, ReLU
/// overwrites its input in place (its backward needs only its output, and no other layer's
/// backward needs its own output). Every value is kept: each is the input some backward reads. A GELU
/// whose input only its own backward reads overwrites that input with its derivative
/// (`keepsGELUDerivative`).
public final class SequentialWorkspace {
    /// (B, C, H, W) of the input the buffers are sized for; empty before the first forward.
    public private(set) var inputShape: [Int] = []
    /// The layers the buffers are laid out for.
    private var layers: [HeadLayer] = []
    /// Saved values, each (B, C_v, H_v, W_v) with (C_v, H_v, W_v) = `shapes[v]`.
    private(set) var values: [FloatBuffer] = []
    private(set) var shapes: [FeatureShape] = []
    /// For layer l: the value it reads and the value it writes (equal for ReLU).
    private(set) var inputValue: [Int] = [], outputValue: [Int] = []
    /// LayerNorm2d statistics of layer l, mean and rstd (B, H*W) each; nil for other layers.
    private(set) var means: [FloatBuffer?] = [], rstds: [FloatBuffer?] = []
    /// For layer l: whether it is a GELU that replaces its saved input by its derivative in forward
    /// (when no other backward reads that value: the layer before it is not an in-place ReLU).
    private(set) var keepsGELUDerivative: [Bool] = []
    /// Gradient ping-pong buffers, each as large as the largest value.
    private(set) var gradient = FloatBuffer(count: 0), nextGradient = FloatBuffer(count: 0)

    public init() {}

    var batch: Int { inputShape[0] }

    /// (B, C, H, W) of value `v`.
    func shape(ofValue v: Int) -> [Int] { [batch, shapes[v].channels, shapes[v].height, shapes[v].width] }

    /// Elements of value `v`.
    func count(ofValue v: Int) -> Int { batch * shapes[v].count }

    /// Sizes every buffer for `network` on input (B, C, H, W); keeps them when nothing changed.
    func prepare(_ network: SequentialNetwork, inputShape shape: [Int]) {
        guard shape != inputShape || network.layers != layers else { return }
        precondition(shape.count == 4 && shape.allSatisfy { $0 > 0 }, "head input must be (B, C, H, W), got \(shape)")
        inputShape = shape
        layers = network.layers
        shapes = [FeatureShape(channels: shape[1], height: shape[2], width: shape[3])]
        inputValue = []
        outputValue = []
        means = []
        rstds = []
        for layer in network.layers {
            let input = shapes.count - 1
            inputValue.append(input)
            if layer == .relu {
                outputValue.append(input)
            } else {
                shapes.append(layer.outputShape(shapes[input]))
                outputValue.append(shapes.count - 1)
            }
            let pixels = shapes[input].height * shapes[input].width
            let statistics = layer.isLayerNorm ? FloatBuffer(count: shape[0] * pixels) : nil
            means.append(statistics)
            rstds.append(statistics.map { FloatBuffer(count: $0.count) })
        }
        keepsGELUDerivative = network.layers.indices.map { l in
            network.layers[l] == .gelu && (l == 0 || network.layers[l - 1] != .relu)
        }
        values = shapes.indices.map { FloatBuffer(count: count(ofValue: $0)) }
        let largest = values.map(\.count).max() ?? 0
        gradient = FloatBuffer(count: largest)
        nextGradient = FloatBuffer(count: largest)
    }

    /// Swaps the gradient buffers after a layer's backward wrote its input gradient.
    func swapGradients() {
        swap(&gradient, &nextGradient)
    }
}

extension HeadLayer {
    var isLayerNorm: Bool {
        if case .layerNorm2d = self { return true }
        return false
    }
}
