import Layers
import Tensors

/// Forward and backward of a `SequentialNetwork` through the Layers ops.
///
/// Shapes: B batch; value v is (B, C_v, H_v, W_v) (see `SequentialWorkspace`); the parameter
/// and gradient buffers have `layout`; layer l's weight starts at `weightOffsets[l]` and its
/// bias follows the weight.
extension SequentialNetwork {
    /// LayerNorm2d epsilon of SAM's `LayerNorm2d` (segment_anything/modeling/common.py).
    static let layerNormEps: Float = 1e-6

    /// y (B, C_out, H_out, W_out) <- x (B, C, H, W); saves every activation in `workspace`.
    public func forward(_ x: Tensor, parameters: [Float], workspace ws: SequentialWorkspace) -> Tensor {
        precondition(parameters.count == layout.totalCount,
                     "\(parameters.count) parameters for a layout of \(layout.totalCount)")
        ws.prepare(self, inputShape: x.shape)
        x.withPointer { ws.values[0].pointer.update(from: $0, count: x.count) }
        parameters.withUnsafeBufferPointer { pb in
            var l = 0
            while l < layers.count {
                if Self.fusesPointwiseRuns, let run = pointwiseRun(from: l) {
                    forwardPointwise(run, parameters: pb.baseAddress!, ws)
                    l = run.upperBound
                } else {
                    forwardLayer(l, parameters: pb.baseAddress!, ws)
                    l += 1
                }
            }
        }
        let last = ws.values[ws.values.count - 1]
        return Tensor(shape: ws.shape(ofValue: ws.values.count - 1),
                      data: Array(UnsafeBufferPointer(start: last.pointer, count: last.count)))
    }

    /// Accumulates `gradients += dLoss/dParameters` for `dy` (B, C_out, H_out, W_out), the
    /// upstream gradient of the last `forward` on `workspace`. The input gradient is not formed.
    public func backward(_ dy: Tensor, parameters: [Float], gradients: inout [Float],
                         workspace ws: SequentialWorkspace) {
        precondition(!ws.inputShape.isEmpty, "backward before forward")
        precondition(dy.shape == ws.shape(ofValue: ws.values.count - 1),
                     "upstream gradient \(dy.shape), the forward output was \(ws.shape(ofValue: ws.values.count - 1))")
        precondition(parameters.count == layout.totalCount && gradients.count == layout.totalCount,
                     "parameter/gradient buffers do not match the layout (\(layout.totalCount))")
        dy.withPointer { ws.gradient.pointer.update(from: $0, count: dy.count) }
        parameters.withUnsafeBufferPointer { pb in
            gradients.withUnsafeMutableBufferPointer { gb in
                var l = layers.count - 1
                while l >= 0 {
                    if Self.fusesPointwiseRuns, let run = pointwiseRun(endingAt: l) {
                        backwardPointwise(run, parameters: pb.baseAddress!, gradients: gb.baseAddress!, ws)
                        l = run.lowerBound - 1
                        continue
                    }
                    let inputGradient: UnsafeMutablePointer<Float>? = l > 0 ? ws.nextGradient.pointer : nil
                    inputGradient?.update(repeating: 0, count: ws.count(ofValue: ws.inputValue[l]))
                    backwardLayer(l, dx: inputGradient, parameters: pb.baseAddress!, gradients: gb.baseAddress!, ws)
                    if inputGradient != nil { ws.swapGradients() }
                    l -= 1
                }
            }
        }
    }

    private func forwardLayer(_ l: Int, parameters: UnsafePointer<Float>, _ ws: SequentialWorkspace) {
        let b = ws.batch, s = ws.shapes[ws.inputValue[l]], (c, h, w) = (s.channels, s.height, s.width)
        let x = ws.values[ws.inputValue[l]].pointer, y = ws.values[ws.outputValue[l]].pointer
        let weight = parameters + max(weightOffsets[l], 0)
        switch layers[l] {
        case let .conv(_, i, o, k):
            Conv2d.forward(y: y, x: x, weight: weight, bias: weight + o * i * k * k,
                           shape: Self.convShape(b, i, o, h, w, k))
        case let .convTranspose(_, i, o):
            ConvTranspose2d.forward(y: y, x: x, weight: weight, bias: weight + i * o * 4,
                                    batch: b, inChannels: i, outChannels: o, height: h, width: w)
        case .layerNorm2d:
            LayerNorm2d.forward(y: y, mean: ws.means[l]!.pointer, rstd: ws.rstds[l]!.pointer, x: x,
                                weight: weight, bias: weight + c, batch: b, channels: c, pixels: h * w,
                                eps: Self.layerNormEps)
        case .relu:
            ReLU.forward(y: y, x: x, count: b * c * h * w)
        case .gelu where ws.keepsGELUDerivative[l]:
            GELU.forwardKeepingDerivative(y: y, x: x, count: b * c * h * w)
        case .gelu:
            GELU.forward(y: y, x: x, count: b * c * h * w)
        }
    }

    /// Layer l's backward from `ws.gradient` (its output gradient): parameter gradients into
    /// `gradients`, the input gradient into `dx` (zeroed by the caller; nil for the first layer).
    private func backwardLayer(_ l: Int, dx: UnsafeMutablePointer<Float>?, parameters: UnsafePointer<Float>,
                               gradients: UnsafeMutablePointer<Float>, _ ws: SequentialWorkspace) {
        let b = ws.batch, s = ws.shapes[ws.inputValue[l]], (c, h, w) = (s.channels, s.height, s.width)
        let x = ws.values[ws.inputValue[l]].pointer, y = ws.values[ws.outputValue[l]].pointer
        let dy = UnsafePointer(ws.gradient.pointer)
        let offset = max(weightOffsets[l], 0)
        let weight = parameters + offset, dWeight = gradients + offset
        switch layers[l] {
        case let .conv(_, i, o, k):
            Conv2d.backward(dx: dx, dWeight: dWeight, dBias: dWeight + o * i * k * k, dy: dy, x: x, weight: weight,
                            shape: Self.convShape(b, i, o, h, w, k))
        case let .convTranspose(_, i, o):
            ConvTranspose2d.backward(dx: dx, dWeight: dWeight, dBias: dWeight + i * o * 4, dy: dy, x: x,
                                     weight: weight, batch: b, inChannels: i, outChannels: o, height: h, width: w)
        case .layerNorm2d:
            LayerNorm2d.backward(dx: dx, dWeight: dWeight, dBias: dWeight + c, dy: dy, x: x,
                                 mean: ws.means[l]!.pointer, rstd: ws.rstds[l]!.pointer, weight: weight,
                                 batch: b, channels: c, pixels: h * w)
        case .relu:
            if let dx { ReLU.backward(dx: dx, dy: dy, y: y, count: b * c * h * w) }
        case .gelu where ws.keepsGELUDerivative[l]:
            if let dx { GELU.backward(dx: dx, dy: dy, derivative: x, count: b * c * h * w) }
        case .gelu:
            if let dx { GELU.backward(dx: dx, dy: dy, x: x, count: b * c * h * w) }
        }
    }

    /// Stride 1, "same" padding (kernel / 2) for the odd kernels the heads use.
    private static func convShape(_ b: Int, _ i: Int, _ o: Int, _ h: Int, _ w: Int, _ k: Int) -> Conv2d.Shape {
        Conv2d.Shape(batch: b, inChannels: i, outChannels: o, height: h, width: w, kernel: k, padding: k / 2)
    }
}
