import Heads
import Tensors
import TestSupport

/// The scalar `L = sum_j w_j logits_j` (fixed normal weights w, as `GradientCheck` uses) of a
/// UNet on one seeded batch, differentiated two ways per parameter element: the analytic Float
/// gradient of `UNet.backward` and central differences of `UNetDoubleReference` in Double.
///
/// Shapes: images (B, C, H, W), logits and w (B, K, H, W), parameters (layout.totalCount).
struct UNetGradientProbe {
    let net: UNet
    let images: Tensor
    let parameters: [Float]
    /// w (B, K, H, W).
    let weights: [Double]
    private let reference: UNetDoubleReference
    /// L at `parameters` on the Double reference.
    private let baseLoss: Double

    init(_ net: UNet, shape: [Int], seed: UInt64) {
        self.net = net
        images = randomTensor(shape, seed: seed)
        parameters = net.initialState(seed: seed).trainable.params
        weights = CounterRNG(seed: seed, stream: 99).normals(shape[0] * net.classes * shape[2] * shape[3])
            .map(Double.init)
        reference = UNetDoubleReference(net: net)
        baseLoss = zip(reference.forward(images.data.map(Double.init), shape: shape,
                                         parameters: parameters.map(Double.init)),
                       weights).reduce(0) { $0 + $1.0 * $1.1 }
    }

    /// The Float logits of `UNet.forward`.
    func floatLogits(_ p: [Float]) -> [Float] {
        var workspace = net.makeWorkspace()
        return net.forward(images, parameters: p, frozen: [], workspace: &workspace).data
    }

    /// The Double logits of the reference at the same (widened) images and parameters.
    func doubleLogits(_ p: [Double]) -> [Double] {
        reference.forward(images.data.map(Double.init), shape: images.shape, parameters: p)
    }

    /// L on the Double reference.
    func doubleLoss(_ p: [Double]) -> Double {
        zip(doubleLogits(p), weights).reduce(0) { $0 + $1.0 * $1.1 }
    }

    /// dL/dparameters from `UNet.backward` (Float).
    func analyticGradient() -> [Float] {
        var workspace = net.makeWorkspace()
        let logits = net.forward(images, parameters: parameters, frozen: [], workspace: &workspace)
        var gradients = [Float](repeating: 0, count: parameters.count)
        net.backward(Tensor(shape: logits.shape, data: weights.map(Float.init)), parameters: parameters, frozen: [],
                     gradients: &gradients, workspace: &workspace)
        return gradients
    }

    /// `(L(p + h e) - L(p - h e)) / 2h` on the Double reference, and the gap between the two
    /// one-sided differences: curvature over the step, or a ReLU or max-pool choice switching
    /// inside it. Either way the central difference is off the derivative by at most about the gap.
    func doubleDifference(at e: Int, step h: Double = 1e-6) -> (central: Double, gap: Double) {
        var p = parameters.map(Double.init)
        let p0 = p[e]
        func loss(_ value: Double) -> Double {
            p[e] = value
            return doubleLoss(p)
        }
        let (hi, mid, lo) = (loss(p0 + h), baseLoss, loss(p0 - h))
        return ((hi - lo) / (2 * h), abs((hi - mid) / h - (mid - lo) / h))
    }
}
