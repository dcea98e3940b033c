import Layers
import Tensors

/// Forward and backward of the `UNet` graph through the Layers ops.
///
/// Shapes: B batch; value v is (B, C_v, H_v, W_v) (see `UNetWorkspace`); the parameter and
/// gradient buffers have `layout`; unit u's first parameter starts at `units[u].offset`, the
/// others follow in state-dict order.
extension UNet {
    /// logits (B, K, S, S) <- images (B, 3, S, S); saves every activation in `workspace`.
    public func forward(_ embeddings: Tensor, parameters: [Float], frozen: [Float],
                        workspace ws: inout UNetWorkspace) -> Tensor {
        precondition(parameters.count == layout.totalCount,
                     "\(parameters.count) parameters for a layout of \(layout.totalCount)")
        precondition(frozen.isEmpty, "the UNet has no frozen tensors, got \(frozen.count) values")
        ws.prepare(self, inputShape: embeddings.shape)
        embeddings.withPointer { ws.values[0].pointer.update(from: $0, count: embeddings.count) }
        parameters.withUnsafeBufferPointer { pb in
            for u in units.indices { forwardUnit(u, parameters: pb.baseAddress!, ws) }
        }
        let last = ws.values.count - 1, s = ws.shapes[last]
        return Tensor(shape: [ws.batch, s.channels, s.height, s.width],
                      data: Array(UnsafeBufferPointer(start: ws.values[last].pointer, count: ws.count(ofValue: last))))
    }

    /// Accumulates `gradients += dLoss/dParameters` for `dLogits` (B, K, S, S) of the last forward.
    public func backward(_ dLogits: Tensor, parameters: [Float], frozen: [Float], gradients: inout [Float],
                         workspace ws: inout UNetWorkspace) {
        precondition(!ws.inputShape.isEmpty, "backward before forward")
        let last = ws.values.count - 1
        precondition(dLogits.count == ws.count(ofValue: last),
                     "upstream gradient \(dLogits.shape) does not match the logits")
        precondition(gradients.count == layout.totalCount,
                     "gradient buffer does not match the layout (\(layout.totalCount))")
        for v in 1..<last { ws.gradients[v].pointer.update(repeating: 0, count: ws.count(ofValue: v)) }
        dLogits.withPointer { ws.gradients[last].pointer.update(from: $0, count: dLogits.count) }
        parameters.withUnsafeBufferPointer { pb in
            gradients.withUnsafeMutableBufferPointer { gb in
                for u in units.indices.reversed() {
                    backwardUnit(u, parameters: pb.baseAddress!, gradients: gb.baseAddress!, ws)
                }
            }
        }
    }

    func forwardUnit(_ u: Int, parameters: UnsafePointer<Float>, _ ws: UNetWorkspace) {
        let unit = units[u], b = ws.batch, s = ws.shapes[unit.inputs[0]]
        let x = ws.values[unit.inputs[0]].pointer, y = ws.values[unit.output].pointer
        let weight = parameters + max(unit.offset, 0)
        switch unit.op {
        case let .convNormReLU(_, i, o):
            let pre = ws.preNorm[u]!.pointer, pixels = s.height * s.width, norm = weight + o * i * 9
            Conv2d.forward(y: pre, x: x, weight: weight, bias: nil, shape: Self.conv3(b, i, o, s))
            InstanceNorm2d.forward(y: y, mean: ws.means[u]!.pointer, rstd: ws.rstds[u]!.pointer, x: pre,
                                   weight: norm, bias: norm + o, batch: b, channels: o, pixels: pixels)
            ReLU.forward(y: y, x: y, count: b * o * pixels)
        case .maxPool:
            MaxPool2d.forward(y: y, indices: ws.indices[u]!.pointer, x: x, batch: b, channels: s.channels,
                              height: s.height, width: s.width)
        case let .upConv(_, i, o):
            ConvTranspose2d.forward(y: y, x: x, weight: weight, bias: weight + i * o * 4,
                                    batch: b, inChannels: i, outChannels: o, height: s.height, width: s.width)
        case .concat:
            let other = ws.shapes[unit.inputs[1]]
            ChannelConcat.forward(y: y, a: x, b: ws.values[unit.inputs[1]].pointer, batch: b, channelsA: s.channels,
                                  channelsB: other.channels, pixels: s.height * s.width)
        case let .classifier(_, i, o):
            Conv2d.forward(y: y, x: x, weight: weight, bias: weight + o * i,
                           shape: Conv2d.Shape(batch: b, inChannels: i, outChannels: o, height: s.height,
                                               width: s.width, kernel: 1))
        }
    }

    /// Unit u's backward from the complete gradient of its output (every consumer of a value
    /// runs later in forward order, so earlier in this reversed loop).
    func backwardUnit(_ u: Int, parameters: UnsafePointer<Float>, gradients: UnsafeMutablePointer<Float>,
                              _ ws: UNetWorkspace) {
        let unit = units[u], b = ws.batch, s = ws.shapes[unit.inputs[0]]
        let x = ws.values[unit.inputs[0]].pointer, y = ws.values[unit.output].pointer
        let dy = UnsafePointer(ws.gradients[unit.output].pointer)
        let dx: UnsafeMutablePointer<Float>? = unit.inputs[0] == 0 ? nil : ws.gradients[unit.inputs[0]].pointer
        let offset = max(unit.offset, 0), weight = parameters + offset, dWeight = gradients + offset
        switch unit.op {
        case let .convNormReLU(_, i, o):
            let pixels = s.height * s.width, count = b * o * pixels, norm = weight + o * i * 9
            let dNorm = ws.scratch.pointer, dPre = ws.scratch2.pointer
            dNorm.update(repeating: 0, count: count)
            dPre.update(repeating: 0, count: count)
            ReLU.backward(dx: dNorm, dy: dy, y: y, count: count)
            InstanceNorm2d.backward(dx: dPre, dWeight: dWeight + o * i * 9, dBias: dWeight + o * i * 9 + o, dy: dNorm,
                                    x: ws.preNorm[u]!.pointer, mean: ws.means[u]!.pointer, rstd: ws.rstds[u]!.pointer,
                                    weight: norm, batch: b, channels: o, pixels: pixels)
            Conv2d.backward(dx: dx, dWeight: dWeight, dBias: nil, dy: dPre, x: x, weight: weight,
                            shape: Self.conv3(b, i, o, s))
        case .maxPool:
            if let dx {
                MaxPool2d.backward(dx: dx, dy: dy, indices: ws.indices[u]!.pointer, batch: b, channels: s.channels,
                                   height: s.height, width: s.width)
            }
        case let .upConv(_, i, o):
            ConvTranspose2d.backward(dx: dx, dWeight: dWeight, dBias: dWeight + i * o * 4, dy: dy, x: x, weight: weight,
                                     batch: b, inChannels: i, outChannels: o, height: s.height, width: s.width)
        case .concat:
            let other = ws.shapes[unit.inputs[1]]
            ChannelConcat.backward(da: dx, db: ws.gradients[unit.inputs[1]].pointer, dy: dy, batch: b,
                                   channelsA: s.channels, channelsB: other.channels, pixels: s.height * s.width)
        case let .classifier(_, i, o):
            Conv2d.backward(dx: dx, dWeight: dWeight, dBias: dWeight + o * i, dy: dy, x: x, weight: weight,
                            shape: Conv2d.Shape(batch: b, inChannels: i, outChannels: o, height: s.height,
                                                width: s.width, kernel: 1))
        }
    }

    /// 3x3, stride 1, padding 1 on the grid of `s`.
    private static func conv3(_ b: Int, _ i: Int, _ o: Int, _ s: FeatureShape) -> Conv2d.Shape {
        Conv2d.Shape(batch: b, inChannels: i, outChannels: o, height: s.height, width: s.width, kernel: 3, padding: 1)
    }
}
