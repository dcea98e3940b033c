/// Training augmentation parameters (DESIGN §3.6; reference: AutoSAM `dataset/ACDC.py` at
/// 50a6ff4 with batchgenerators' BrightnessTransform, GammaTransform, GaussianNoiseTransform,
/// ResizeTransform(order 1), MirrorTransform(axes (1,)), SpatialTransform). `reference` holds
/// the reference's values; the steps run in the order of the fields.
public struct AugmentationConfig: Codable, Equatable, Sendable {
    /// Output side length (the reference's `img_size`).
    public var outputSize: Int
    /// Channels of the output image: the grey slice is replicated (the reference reads RGB PNGs),
    /// and brightness and noise then act per channel as in the reference.
    public var channels: Int
    /// Additive brightness N(mean, std), one draw per channel.
    public var brightnessProbability: Float
    public var brightnessMean: Float
    public var brightnessStd: Float
    /// Range-preserving gamma over the whole sample; gamma below 1 or above 1 with equal odds.
    public var gammaProbability: Float
    public var gammaRange: ClosedRange<Float>
    /// Gaussian noise with standard deviation drawn from this range.
    public var noiseProbability: Float
    public var noiseStdRange: ClosedRange<Float>
    /// Mirror along the second spatial axis (columns).
    public var mirrorProbability: Float
    /// Elastic deformation (always applied): displacement = alpha * gaussian_filter(U(-1, 1), sigma).
    public var elasticAlphaRange: ClosedRange<Float>
    public var elasticSigmaRange: ClosedRange<Float>
    public var rotationProbability: Float
    /// Rotation angle in radians.
    public var rotationRange: ClosedRange<Float>
    /// Isotropic scaling; below 1 or above 1 with equal odds.
    public var scaleProbability: Float
    public var scaleRange: ClosedRange<Float>

    public static let reference = AugmentationConfig(
        outputSize: 224, channels: 3,
        brightnessProbability: 0.5, brightnessMean: 1, brightnessStd: 1,
        gammaProbability: 0.5, gammaRange: 0.5...2,
        noiseProbability: 0.5, noiseStdRange: 0...0.1,
        mirrorProbability: 0.5,
        elasticAlphaRange: 100...350, elasticSigmaRange: 40...60,
        rotationProbability: 0.5, rotationRange: -0.1...0.1,
        scaleProbability: 0.5, scaleRange: 0.5...1.9)

    /// The reference values with another output size and channel count.
    public static func reference(outputSize: Int, channels: Int = 3) -> AugmentationConfig {
        var config = reference
        config.outputSize = outputSize
        config.channels = channels
        return config
    }
}
