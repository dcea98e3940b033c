/// AutoSAM's `SegDecoderLinear` (models/SamFeatSeg.py at 50a6ff4; DESIGN §3.4,
/// FIXTURES quirk 8) under the `SamFeatSeg` state-dict names, for C embedding channels
/// (256 -> 64 -> 32 in the reference):
///
///     output_upscaling: ConvT C -> C/4, LayerNorm2d, GELU, ConvT C/4 -> C/8, GELU
///     final: conv1x1 C/8 -> C/8, ReLU, conv1x1 C/8 -> K, ReLU
///
/// The final ReLU is the reference's: the "logits" are >= 0 and their gradient is 0 where they
/// are 0. The output grid is 4x the embedding.
public struct LinearHead: SequentialHead, Equatable, Sendable {
    public let inputChannels: Int
    public let classes: Int
    public let network: SequentialNetwork

    public init(inputChannels: Int = 256, classes: Int) {
        precondition(inputChannels >= 8 && inputChannels % 8 == 0,
                     "linear head needs C divisible by 8, got \(inputChannels)")
        precondition(classes >= 2, "need at least two classes")
        (self.inputChannels, self.classes) = (inputChannels, classes)
        let quarter = inputChannels / 4, eighth = inputChannels / 8
        network = SequentialNetwork([
            .convTranspose("mask_decoder.output_upscaling.0", inChannels: inputChannels, outChannels: quarter),
            .layerNorm2d("mask_decoder.output_upscaling.1", channels: quarter), .gelu,
            .convTranspose("mask_decoder.output_upscaling.3", inChannels: quarter, outChannels: eighth), .gelu,
            .conv("mask_decoder.final.0", inChannels: eighth, outChannels: eighth, kernel: 1), .relu,
            .conv("mask_decoder.final.2", inChannels: eighth, outChannels: classes, kernel: 1), .relu,
        ])
    }
}
