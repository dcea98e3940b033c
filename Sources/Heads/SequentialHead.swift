import Tensors

/// A head that is one `SequentialNetwork` with no frozen state (the CNN and linear heads): the
/// `SegmentationHead` requirements follow from `network`.
public protocol SequentialHead: SegmentationHead where Workspace == SequentialWorkspace {
    var network: SequentialNetwork { get }
}

extension SequentialHead {
    public var layout: ParameterLayout { network.layout }
    public var frozenLayout: ParameterLayout { ParameterLayout() }

    public func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        let shape = network.outputShape(FeatureShape(channels: inputChannels, height: height, width: width))
        return (shape.height, shape.width)
    }

    public func initialization(of name: String) -> ParameterInit { network.initialization(of: name) }

    public func makeWorkspace() -> SequentialWorkspace { SequentialWorkspace() }

    public func forward(_ embeddings: Tensor, parameters: [Float], frozen: [Float],
                        workspace: inout SequentialWorkspace) -> Tensor {
        precondition(embeddings.rank == 4 && embeddings.shape[1] == inputChannels,
                     "head expects (B, \(inputChannels), H, W) embeddings, got \(embeddings.shape)")
        precondition(frozen.isEmpty, "this head has no frozen tensors, got \(frozen.count) values")
        return network.forward(embeddings, parameters: parameters, workspace: workspace)
    }

    public func backward(_ dLogits: Tensor, parameters: [Float], frozen: [Float], gradients: inout [Float],
                         workspace: inout SequentialWorkspace) {
        network.backward(dLogits, parameters: parameters, gradients: &gradients, workspace: workspace)
    }
}
