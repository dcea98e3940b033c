/// A config value from a fixed set, written in JSON as its raw string. The loader checks a given
/// value against `choices` with the key named ("data.augmentation must be reference, bank or
/// none, got 'x'"), so every such key is checked the same way and the code matches on cases;
/// interpolated, a value reads as in the config.
public protocol ConfigChoice: RawRepresentable, CaseIterable, Codable, Sendable, Hashable, CustomStringConvertible
where RawValue == String {
    /// The error's list of allowed values when it should say more than the names.
    static var allowedPhrase: String? { get }
}

extension ConfigChoice {
    public static var allowedPhrase: String? { nil }
    /// The raw value, so interpolations and logs read as the config does ("sam_box").
    public var description: String { rawValue }
    /// The raw values, in declaration order.
    public static var choices: [String] { allCases.map(\.rawValue) }
}

/// `data.layout`: how the dataset folder is organised.
public enum LayoutChoice: String, ConfigChoice { case auto, acdc, msd, png }

/// `data.input_mode`: the encoder input normalisation (DESIGN §3.1).
public enum InputMode: String, ConfigChoice {
    /// AutoSAM's: the augmented [0, 1] slice as it is.
    case reference
    /// SAM's own: mapped to 0-255 by its min and max, then SAM's pixel mean and std.
    case sam
}

/// `data.augmentation`: how training views are made (DESIGN §5).
public enum AugmentationMode: String, ConfigChoice {
    /// A fresh augmentation and encoder pass every step (the paper).
    case reference
    /// K augmented views per slice, encoded once and cached.
    case bank
    /// Clean cached embeddings every epoch.
    case none
}

/// `encoder.preset`: the SAM encoder size (without a checkpoint, of the random weights; with
/// one, the shape it must have, or `auto` for whatever it holds).
public enum EncoderPreset: String, ConfigChoice {
    case vitB = "vit_b", vitL = "vit_l", vitH = "vit_h"
    /// A small random-weight ViT for demos and tests (no checkpoint).
    case demoSmall = "demo_small"
    /// With a checkpoint: take its shape, whatever it is.
    case auto
}

/// `encoder.precision`: the arithmetic of the encoder's large linears (qkv, projection, MLP).
public enum EncoderArithmetic: String, ConfigChoice {
    /// float32 (the reference).
    case fp32
    /// bfloat16 inputs and weights with float32 accumulation, on CPUs with AVX512-BF16 or AMX only
    /// (refused elsewhere, with the reason); embeddings are cached apart from fp32 ones.
    case bf16
}

/// `data.distribute`: where ranks get the volumes.
public enum DataDistribution: String, ConfigChoice {
    /// Every node reads `data.root`.
    case shared
    /// The coordinator reads the volumes and sends them to the other ranks.
    case broadcast
}

/// `head.kind`: the trainable heads and the baselines.
public enum HeadKind: String, ConfigChoice {
    case autosam, cnn, linear, unet
    /// The zero-shot box-prompted SAM baseline (nothing trained).
    case samBox = "sam_box"
    public static var allowedPhrase: String? { "autosam, cnn or linear (heads) or unet or sam_box (baselines)" }
}

/// `head.box_input`: how a slice becomes the SAM image input in the zero-shot box baseline.
public enum BoxInputPath: String, ConfigChoice {
    /// The reference's (fixtures quirk 14): the slice min-max scaled to [0, 1], replicated to 3
    /// channels, bilinearly resized to S x S, then (x - pixel_mean) / pixel_std with SAM's 0-255
    /// constants, so the encoder sees an almost constant image of about -2.
    case reference
    /// Corrected: the slice min-max mapped to 0-255 RGB, then SAM's own `ResizeLongestSide`,
    /// normalisation and padding (`Preprocessing.sam`).
    case corrected
}

/// `optim.scheduler`.
public enum SchedulerChoice: String, ConfigChoice {
    /// ReduceLROnPlateau on the last training loss, from `scheduler_start_epoch` on (the reference).
    case plateau
    case none
}

/// `optim.test_model`: which weights are tested.
public enum TestModel: String, ConfigChoice {
    /// The last epoch's (the reference).
    case last
    /// The best validated epoch's.
    case best
}

/// `optim.validation_loss`.
public enum ValidationLoss: String, ConfigChoice {
    /// The soft-Dice of the whole validation set as one batch.
    case wholeSet = "whole_set"
    /// The reference's mean over consecutive batches of each batch's soft-Dice.
    case batchMean = "batch_mean"
}

/// `pretrain.method`: self-supervised pretraining of the UNet baseline's encoder.
public enum PretrainMethod: String, ConfigChoice { case none, simclr }

/// `cache.dtype`: the precision of cached training embeddings.
public enum CachePrecision: String, ConfigChoice { case fp32, fp16 }
