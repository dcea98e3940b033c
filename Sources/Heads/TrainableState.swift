import Optim
import Tensors

/// A head's trainable state as flat buffers (STYLE "flat trainable state"): parameters,
/// gradients and the Adam moments each one contiguous array with the same `layout`, so the
/// all-reduce sees `grads`, the optimiser the three buffers, and checkpoints the named views.
public struct TrainableState: Equatable, Sendable {
    /// Names (PyTorch state-dict keys), shapes and offsets shared by all buffers.
    public let layout: ParameterLayout
    /// Parameters (layout.totalCount).
    public var params: [Float]
    /// Gradient accumulator (layout.totalCount); heads' backward passes add into it.
    public var grads: [Float]
    /// Adam over `params` (moments of layout.totalCount each).
    public var adam: Adam

    /// Wraps `params` with zero gradients and a fresh Adam (PyTorch defaults apart from `lr`).
    public init(layout: ParameterLayout, params: [Float], lr: Float = 5e-4) {
        self.init(layout: layout, params: params, adam: Adam(count: layout.totalCount, lr: lr))
    }

    /// Wraps `params` and a restored optimiser, with zero gradients.
    public init(layout: ParameterLayout, params: [Float], adam: Adam) {
        precondition(params.count == layout.totalCount,
                     "\(params.count) parameters for a layout of \(layout.totalCount)")
        precondition(adam.m.count == layout.totalCount,
                     "Adam over \(adam.m.count) values for a layout of \(layout.totalCount)")
        self.layout = layout
        self.params = params
        self.grads = [Float](repeating: 0, count: layout.totalCount)
        self.adam = adam
    }

    /// grads <- 0 (before accumulating a step's backward passes).
    public mutating func zeroGradients() {
        grads.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
    }

    /// One Adam update of `params` with `grads` (after the all-reduce in distributed training).
    public mutating func step() {
        adam.update(&params, gradients: grads)
    }

    /// Parameter `name` as a tensor (a copy).
    public func parameter(_ name: String) -> Tensor { layout.tensor(name, in: params) }

    /// Gradient `name` as a tensor (a copy).
    public func gradient(_ name: String) -> Tensor { layout.tensor(name, in: grads) }

    /// Overwrites parameter `name`; the shape must match the layout.
    public mutating func setParameter(_ name: String, _ value: Tensor) {
        guard let entry = layout.entry(name) else { preconditionFailure("no parameter \(name)") }
        precondition(entry.shape == value.shape, "\(name): shape \(value.shape), expected \(entry.shape)")
        params.replaceSubrange(entry.offset ..< entry.offset + entry.count, with: value.data)
    }
}

/// Frozen parameters and buffers of a head (for the AutoSAM head: the `iou` parameters and the
/// random positional-encoding matrix): saved and loaded with the head, broadcast once by the
/// coordinator, never updated. Empty for the CNN and linear heads.
public struct FrozenState: Equatable, Sendable {
    public let layout: ParameterLayout
    /// Values (layout.totalCount).
    public private(set) var values: [Float]

    public init(layout: ParameterLayout, values: [Float]) {
        precondition(values.count == layout.totalCount,
                     "\(values.count) frozen values for a layout of \(layout.totalCount)")
        self.layout = layout
        self.values = values
    }

    /// No frozen tensors.
    public static let empty = FrozenState(layout: ParameterLayout(), values: [])

    /// Tensor `name` (a copy).
    public func tensor(_ name: String) -> Tensor { layout.tensor(name, in: values) }

    /// Overwrites tensor `name` (checkpoint loading, SAM weight import); the shape must match.
    public mutating func set(_ name: String, _ value: Tensor) {
        guard let entry = layout.entry(name) else { preconditionFailure("no frozen tensor \(name)") }
        precondition(entry.shape == value.shape, "\(name): shape \(value.shape), expected \(entry.shape)")
        values.replaceSubrange(entry.offset ..< entry.offset + entry.count, with: value.data)
    }
}
