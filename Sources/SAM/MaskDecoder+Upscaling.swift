import Layers
import Tensors

extension MaskDecoder {
    /// SAM's `output_upscaling`: `ConvTranspose2d(D, D/4, 2, 2)` -> `LayerNorm2d(D/4)` (eps 1e-6)
    /// -> GELU -> `ConvTranspose2d(D/4, D/8, 2, 2)` -> GELU, with its backward.
    /// ref: segment_anything/modeling/mask_decoder.py @ dca509f, `self.output_upscaling`.
    ///
    /// Shapes: B batch, D channels in, C1 = D/4, C2 = D/8, h x w input grid.
    /// x (B, D, h, w), y (B, C2, 4h, 4w). Parameter names (prefix + `0.weight` (D, C1, 2, 2),
    /// `0.bias` (C1), `1.weight` (C1), `1.bias` (C1), `3.weight` (C1, C2, 2, 2), `3.bias` (C2)).
    public enum Upscaling {
        public static let layerNormEps: Float = 1e-6

        public struct Shape: Equatable, Sendable {
            public var batch, channels, height, width: Int

            public init(batch: Int, channels: Int, height: Int, width: Int) {
                precondition(channels % 8 == 0, "upscaling needs a channel count divisible by 8, got \(channels)")
                (self.batch, self.channels, self.height, self.width) = (batch, channels, height, width)
            }

            /// C1, C2.
            public var middleChannels: Int { channels / 4 }
            public var outputChannels: Int { channels / 8 }
            /// Elements of the middle (B, C1, 2h, 2w) and output (B, C2, 4h, 4w) tensors.
            public var middleCount: Int { batch * middleChannels * 4 * height * width }
            public var outputCount: Int { batch * outputChannels * 16 * height * width }

            /// (name suffix, shape) of every parameter, names as in `nn.Sequential`.
            public var parameterShapes: [(name: String, shape: [Int])] {
                let (d, c1, c2) = (channels, middleChannels, outputChannels)
                return [("0.weight", [d, c1, 2, 2]), ("0.bias", [c1]), ("1.weight", [c1]), ("1.bias", [c1]),
                        ("3.weight", [c1, c2, 2, 2]), ("3.bias", [c2])]
            }
        }

        /// Views of the parameters (or their gradients) in a flat buffer.
        public struct Weights {
            public var conv1: WeightAndBias   // (D, C1, 2, 2), (C1)
            public var norm: WeightAndBias    // (C1), (C1)
            public var conv2: WeightAndBias   // (C1, C2, 2, 2), (C2)

            /// `prefix` e.g. `mask_decoder.output_upscaling.`.
            public init(layout: ParameterLayout, prefix: String, base: UnsafeMutablePointer<Float>) {
                conv1 = WeightAndBias(layout: layout, prefix: prefix + "0.", base: base)
                norm = WeightAndBias(layout: layout, prefix: prefix + "1.", base: base)
                conv2 = WeightAndBias(layout: layout, prefix: prefix + "3.", base: base)
            }
        }

        /// Saved by forward: u1 = conv1(x) (B, C1, 2h, 2w), g1 = GELU(norm(u1)) (same), slope1 =
        /// GELU'(norm(u1)) (same), the LayerNorm statistics mean and rstd (B, 2h 2w) each, and slope2 =
        /// GELU'(conv2(g1)) (B, C2, 4h, 4w): backward needs the two GELUs' derivatives only, so they are
        /// kept instead of their inputs (conv2's output is written to slope2 and replaced there).
        /// Activations made with `init(shape:u1:sharingScratchOf:)` keep only u1: everything else
        /// lives in another instance's buffers, shared by many, and `recompute` restores it.
        public final class Activations {
            public let shape: Shape
            let buffers = DecoderBuffers()
            let u1, g1, slope1, slope2, mean, rstd: UnsafeMutablePointer<Float>
            /// The instance whose scratch these views use (kept alive).
            private let scratchOwner: Activations?

            public init(shape: Shape) {
                self.shape = shape
                let statistics = shape.batch * 4 * shape.height * shape.width
                (u1, g1) = (buffers.take(shape.middleCount), buffers.take(shape.middleCount))
                slope1 = buffers.take(shape.middleCount)
                slope2 = buffers.take(shape.outputCount)
                (mean, rstd) = (buffers.take(statistics), buffers.take(statistics))
                scratchOwner = nil
            }

            /// u1 in the caller's `u1` (middleCount elements, kept by the caller); the rest shared
            /// with `scratch`, so only the last forward's (or `recompute`'s) values are there.
            public init(shape: Shape, u1: UnsafeMutablePointer<Float>, sharingScratchOf scratch: Activations) {
                precondition(scratch.shape == shape,
                             "shared upscaling scratch of shape \(scratch.shape), need \(shape)")
                (self.shape, self.u1, scratchOwner) = (shape, u1, scratch)
                (g1, slope1, slope2, mean, rstd) = (scratch.g1, scratch.slope1, scratch.slope2, scratch.mean,
                                                    scratch.rstd)
            }
        }

        /// y (B, C2, 4h, 4w) <- x (B, D, h, w).
        public static func forward(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, weights w: Weights,
                                   activations a: Activations) {
            let s = a.shape
            ConvTranspose2d.forward(y: a.u1, x: x, weight: w.conv1.weight, bias: w.conv1.bias, batch: s.batch,
                                    inChannels: s.channels, outChannels: s.middleChannels, height: s.height,
                                    width: s.width)
            recompute(y: y, weights: w, activations: a)
        }

        /// The rest of `forward` from a.u1, bit for bit: y = GELU(u2) (B, C2, 4h, 4w) and every saved
        /// activation, for activations whose shared scratch was overwritten since.
        public static func recompute(y: UnsafeMutablePointer<Float>, weights w: Weights, activations a: Activations) {
            let s = a.shape, (c1, c2) = (s.middleChannels, s.outputChannels)
            let normalized = a.slope1
            LayerNorm2d.forward(y: normalized, mean: a.mean, rstd: a.rstd, x: a.u1, weight: w.norm.weight,
                                bias: w.norm.bias, batch: s.batch, channels: c1, pixels: 4 * s.height * s.width,
                                eps: layerNormEps)
            GELU.forwardKeepingDerivative(y: a.g1, x: normalized, count: s.middleCount)
            let u2 = a.slope2
            ConvTranspose2d.forward(y: u2, x: a.g1, weight: w.conv2.weight, bias: w.conv2.bias, batch: s.batch,
                                    inChannels: c1, outChannels: c2, height: 2 * s.height, width: 2 * s.width) {
                GELU.forwardKeepingDerivativeSerial(y: y + $0, x: u2 + $0, count: $1)
            }
        }

        /// Accumulates dx (B, D, h, w) (nil: not needed) and the parameter gradients (nil: none)
        /// from dy (B, C2, 4h, 4w), the forward input x and the activations. dy is consumed: it is
        /// overwritten with the gradient of conv2's output.
        public static func backward(dx: UnsafeMutablePointer<Float>?, gradients: Weights?,
                                    dy: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, weights w: Weights,
                                    activations a: Activations) {
            let s = a.shape, (c1, c2) = (s.middleChannels, s.outputChannels)
            let buffers = DecoderBuffers()
            let dG1 = buffers.take(s.middleCount), dN1 = buffers.take(s.middleCount)
            let dU2 = dy
            GELU.scaleByKeptDerivative(dU2, derivative: a.slope2, count: s.outputCount)
            ConvTranspose2d.backward(dx: dG1, dWeight: gradients?.conv2.weight, dBias: gradients?.conv2.bias, dy: dU2,
                                     x: a.g1, weight: w.conv2.weight, batch: s.batch, inChannels: c1, outChannels: c2,
                                     height: 2 * s.height, width: 2 * s.width)
            GELU.backward(dx: dN1, dy: dG1, derivative: a.slope1, count: s.middleCount)
            let dU1 = dG1   // dG1 is dead once dN1 is computed
            dU1.update(repeating: 0, count: s.middleCount)
            LayerNorm2d.backward(dx: dU1, dWeight: gradients?.norm.weight, dBias: gradients?.norm.bias, dy: dN1,
                                 x: a.u1, mean: a.mean, rstd: a.rstd, weight: w.norm.weight, batch: s.batch,
                                 channels: c1, pixels: 4 * s.height * s.width)
            ConvTranspose2d.backward(dx: dx, dWeight: gradients?.conv1.weight, dBias: gradients?.conv1.bias, dy: dU1,
                                     x: x, weight: w.conv1.weight, batch: s.batch, inChannels: s.channels,
                                     outChannels: c1, height: s.height, width: s.width)
        }
    }
}
