import Layers
import Tensors

/// Views of a layer's `weight` and `bias` inside a flat parameter (or gradient) buffer: an
/// `nn.Linear` (O, I) + (O), a convolution, or a LayerNorm (C) + (C).
public struct WeightAndBias {
    public var weight: UnsafeMutablePointer<Float>
    public var bias: UnsafeMutablePointer<Float>

    public init(weight: UnsafeMutablePointer<Float>, bias: UnsafeMutablePointer<Float>) {
        (self.weight, self.bias) = (weight, bias)
    }

    /// `<prefix>weight` and `<prefix>bias` of `layout`, in the buffer at `base`.
    public init(layout: ParameterLayout, prefix: String, base: UnsafeMutablePointer<Float>) {
        self.init(weight: layout.parameterPointer(prefix + "weight", base: base),
                  bias: layout.parameterPointer(prefix + "bias", base: base))
    }
}

/// A stack of `nn.Linear` layers with ReLU between them (none after the last): SAM's `MLPBlock`
/// in the two-way transformer (2 layers, `mlp.lin1` / `mlp.lin2`) and the mask decoder's `MLP`
/// (hypernetworks and IoU head, `layers.0` ... `layers.{L-1}`), which compute the same thing.
/// `h_0 = x`, `h_i = relu(h_{i-1} W_i^T + b_i)` for i < L, `y = h_{L-1} W_L^T + b_L`.
///
/// ref: segment_anything/modeling/common.py @ dca509f `MLPBlock` and
/// segment_anything/modeling/mask_decoder.py @ dca509f `MLP`.
///
/// Shapes: R rows, I input, H hidden, O output features, L layers (L >= 1). x (R, I), y (R, O),
/// layer 0 weight (H, I) (or (O, I) when L = 1), middle layers (H, H), last (O, H).
/// Saved: hidden (L-1, R, H), the post-ReLU activations.
public enum MLPBlock {
    public struct Shape: Equatable, Sendable {
        public var rows, inputDim, hiddenDim, outputDim, layers: Int

        public init(rows: Int, inputDim: Int, hiddenDim: Int, outputDim: Int, layers: Int) {
            precondition(layers >= 1, "an MLP needs at least one layer")
            (self.rows, self.inputDim, self.hiddenDim) = (rows, inputDim, hiddenDim)
            (self.outputDim, self.layers) = (outputDim, layers)
        }

        /// Elements of the saved hidden activations (L-1, R, H).
        public var hiddenCount: Int { (layers - 1) * rows * hiddenDim }

        /// (in, out) features of layer i.
        public func features(ofLayer i: Int) -> (input: Int, output: Int) {
            (i == 0 ? inputDim : hiddenDim, i == layers - 1 ? outputDim : hiddenDim)
        }

        /// Weight and bias shapes of layer i, as PyTorch stores them.
        public func parameterShapes(ofLayer i: Int) -> (weight: [Int], bias: [Int]) {
            let f = features(ofLayer: i)
            return ([f.output, f.input], [f.output])
        }
    }

    /// y (R, O) <- x (R, I); writes hidden (L-1, R, H). `weights` has one entry per layer.
    public static func forward(
        y: UnsafeMutablePointer<Float>, hidden: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>,
        weights: [WeightAndBias], shape s: Shape
    ) {
        precondition(weights.count == s.layers, "\(weights.count) weight views for \(s.layers) layers")
        var input = x
        for i in 0..<s.layers {
            let f = s.features(ofLayer: i)
            let last = i == s.layers - 1
            let out = last ? y : hidden + i * s.rows * s.hiddenDim
            Linear.forward(y: out, x: input, weight: weights[i].weight, bias: weights[i].bias,
                           rows: s.rows, inFeatures: f.input, outFeatures: f.output)
            if !last {
                ReLU.forward(y: out, x: out, count: s.rows * f.output)
                input = UnsafePointer(out)
            }
        }
    }

    /// Accumulates dx (R, I) (nil: not needed) and the parameter gradients (nil: none) from
    /// dy (R, O), the input x and the saved hidden activations.
    public static func backward(
        dx: UnsafeMutablePointer<Float>?, gradients: [WeightAndBias]?, dy: UnsafePointer<Float>,
        x: UnsafePointer<Float>, hidden: UnsafePointer<Float>, weights: [WeightAndBias], shape s: Shape
    ) {
        let n = s.rows * s.hiddenDim
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 2 * n)
        defer { scratch.deallocate() }
        let dOut = scratch, dPre = scratch + n   // dL/dh_i (R, H) and dL/d(pre-ReLU h_i) (R, H)
        var upstream = dy
        for i in stride(from: s.layers - 1, through: 0, by: -1) {
            let f = s.features(ofLayer: i)
            let input = i == 0 ? x : hidden + (i - 1) * n
            let dInput: UnsafeMutablePointer<Float>? = i == 0 ? dx : dOut
            if i > 0 { dOut.initialize(repeating: 0, count: n) }
            Linear.backward(dx: dInput, dWeight: gradients?[i].weight, dBias: gradients?[i].bias, dy: upstream,
                            x: input, weight: weights[i].weight, rows: s.rows, inFeatures: f.input,
                            outFeatures: f.output)
            guard i > 0 else { break }
            dPre.initialize(repeating: 0, count: n)
            ReLU.backward(dx: dPre, dy: dOut, y: input, count: n)
            upstream = UnsafePointer(dPre)
        }
    }
}
