/// AutoSAM's `SegDecoderCNN` (models/SamFeatSeg.py at 50a6ff4; DESIGN §3.4,
/// FIXTURES quirk 9) under the `SamFeatSeg` state-dict names (`mask_decoder.*`), with k =
/// `depth` and t = `topChannel`:
///
///     input_block: conv1x1 C -> t 2^k, ReLU, conv1x1 t 2^k -> t 2^k, ReLU
///     blocks.i (i = 0..<k), c = t 2^(k-i):
///         no up-sampling (k > 2 and i < 2): conv3x3 c -> c, ReLU, conv3x3 c -> c/2, ReLU
///         otherwise:                        conv3x3 c -> c, ReLU, conv3x3 c -> c, ReLU, ConvT c -> c/2
///     final: conv3x3 t -> t, conv1x1 t -> K   (no activation between)
///
/// The reference's condition `num_depth > 2 > i` is kept as is, so the output grid is 4x the
/// embedding for k = 2 and k = 4 but 2x for k = 3 and 8x for k = 5 (k - 2 up-sampling blocks when
/// k > 2); `outputSize` reports it and the loss resizes the logits to the label grid anyway.
public struct CNNHead: SequentialHead, Equatable, Sendable {
    public let inputChannels: Int
    public let classes: Int
    /// k, the number of blocks (`num_depth`, >= 2).
    public let depth: Int
    /// t, the channel count entering the final block (`top_channel`).
    public let topChannel: Int
    public let network: SequentialNetwork

    public init(inputChannels: Int = 256, classes: Int, depth: Int = 4, topChannel: Int = 64) {
        precondition(depth >= 2, "num_depth must be at least 2, got \(depth)")
        precondition(inputChannels > 0 && classes >= 2 && topChannel > 0, "bad CNN head configuration")
        (self.inputChannels, self.classes, self.depth, self.topChannel) = (inputChannels, classes, depth, topChannel)
        let top = topChannel << depth
        var layers: [HeadLayer] = [
            .conv("mask_decoder.input_block.0", inChannels: inputChannels, outChannels: top, kernel: 1), .relu,
            .conv("mask_decoder.input_block.2", inChannels: top, outChannels: top, kernel: 1), .relu,
        ]
        for i in 0..<depth {
            let c = topChannel << (depth - i), name = "mask_decoder.blocks.\(i)."
            if Self.upsamples(block: i, depth: depth) {
                layers += [.conv(name + "0", inChannels: c, outChannels: c, kernel: 3), .relu,
                           .conv(name + "2", inChannels: c, outChannels: c, kernel: 3), .relu,
                           .convTranspose(name + "4", inChannels: c, outChannels: c / 2)]
            } else {
                layers += [.conv(name + "0", inChannels: c, outChannels: c, kernel: 3), .relu,
                           .conv(name + "2", inChannels: c, outChannels: c / 2, kernel: 3), .relu]
            }
        }
        layers += [.conv("mask_decoder.final.0", inChannels: topChannel, outChannels: topChannel, kernel: 3),
                   .conv("mask_decoder.final.1", inChannels: topChannel, outChannels: classes, kernel: 1)]
        network = SequentialNetwork(layers)
    }

    /// Whether block `i` ends in a ConvTranspose: the reference's `not (num_depth > 2 > i)`.
    public static func upsamples(block i: Int, depth: Int) -> Bool {
        !(depth > 2 && i < 2)
    }
}
