import TensorFiles
import Tensors

/// A trainable prediction head on the frozen encoder's image embedding (DESIGN §3.3-3.4):
/// `logits (B, K, Ho, Wo) = head(embeddings (B, C, H, W))`, with `(Ho, Wo) = outputSize(H, W)`
/// (4x the grid for the reference configurations).
///
/// Parameters live in flat buffers described by two layouts whose entry names are the
/// reference's PyTorch state-dict keys: `layout` (trainable; gradients and Adam moments share
/// it) and `frozenLayout` (frozen parameters and buffers that are saved with the head but never
/// trained; empty for the CNN and linear heads). Forward saves what backward needs in a
/// head-specific `Workspace`; backward ACCUMULATES `dLoss/dParameters` into a gradient buffer
/// of `layout` that the caller zeroed. No gradient flows to the embeddings (the encoder is frozen).
///
/// Shapes: B batch, C embedding channels, H x W embedding grid, K classes, Ho x Wo logit grid.
public protocol SegmentationHead {
    associatedtype Workspace

    /// Trainable parameters, in the reference's state-dict order.
    var layout: ParameterLayout { get }
    /// Frozen parameters and buffers (never trained); empty when the head has none.
    var frozenLayout: ParameterLayout { get }
    /// C, the embedding channel count the head expects (256 for real SAM).
    var inputChannels: Int { get }
    /// K, the number of classes (background included).
    var classes: Int { get }

    /// The logit grid for an embedding grid of H x W.
    func outputSize(height: Int, width: Int) -> (height: Int, width: Int)

    /// How the tensor `name` (of `layout` or `frozenLayout`) is initialised from the run seed
    /// before any checkpoint is loaded (PyTorch's defaults, see `ParameterInit`).
    func initialization(of name: String) -> ParameterInit

    /// An empty workspace; `forward` sizes it for the batch it sees.
    func makeWorkspace() -> Workspace

    /// logits (B, K, Ho, Wo) <- embeddings (B, C, H, W); saves activations in `workspace`.
    /// parameters (layout.totalCount), frozen (frozenLayout.totalCount).
    func forward(_ embeddings: Tensor, parameters: [Float], frozen: [Float], workspace: inout Workspace) -> Tensor

    /// Accumulates `gradients += dLoss/dParameters` for the upstream `dLogits (B, K, Ho, Wo)` of
    /// the last `forward` on this workspace (with the same parameters).
    func backward(_ dLogits: Tensor, parameters: [Float], frozen: [Float], gradients: inout [Float],
                  workspace: inout Workspace)

    // Setup hooks, so trainers never need to know the concrete head (defaults: nothing to do).

    /// True when the head starts from weights of the run's SAM checkpoint (AutoSAM's mask decoder).
    var startsFromSAM: Bool { get }
    /// Copies the weights it takes from a SAM checkpoint into `state`; the names copied.
    func initialise(_ state: inout TrainableState, fromSAM archive: any TensorArchive) throws -> [String]
    /// The network that pretrains part of this head self-supervised (the UNet's encoder with a
    /// SimCLR projection), nil for heads without one.
    func selfSupervisedNetwork(projectionHidden: Int, projectionDim: Int) -> SimCLRNetwork?
}

extension SegmentationHead {
    public var startsFromSAM: Bool { false }
    public func initialise(_ state: inout TrainableState, fromSAM archive: any TensorArchive) throws -> [String] { [] }
    public func selfSupervisedNetwork(projectionHidden: Int, projectionDim: Int) -> SimCLRNetwork? { nil }
}

extension SegmentationHead {
    /// Trainable and frozen state initialised from `seed` with `initialization(of:)`, with a
    /// fresh Adam (learning rate `lr`, PyTorch's other defaults).
    public func initialState(seed: UInt64, lr: Float = 5e-4) -> (trainable: TrainableState, frozen: FrozenState) {
        let params = ParameterInit.values(layout, seed: seed, initialization(of:))
        let frozen = ParameterInit.values(frozenLayout, seed: seed, initialization(of:))
        return (TrainableState(layout: layout, params: params, lr: lr),
                FrozenState(layout: frozenLayout, values: frozen))
    }

    /// `forward` with the buffers of a state pair.
    public func forward(_ embeddings: Tensor, state: TrainableState, frozen: FrozenState,
                        workspace: inout Workspace) -> Tensor {
        forward(embeddings, parameters: state.params, frozen: frozen.values, workspace: &workspace)
    }

    /// `backward` accumulating into `state.grads`.
    public func backward(_ dLogits: Tensor, state: inout TrainableState, frozen: FrozenState,
                         workspace: inout Workspace) {
        backward(dLogits, parameters: state.params, frozen: frozen.values, gradients: &state.grads,
                 workspace: &workspace)
    }
}
