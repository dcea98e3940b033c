/// The typed experiment configuration (DESIGN §6; STYLE 9): one Codable tree whose `init()`
/// values are THE defaults. A config file or `--set` override only changes keys that exist here;
/// `ConfigLoader` rejects anything else by name. Keys are snake_case in files.
public struct ExperimentConfig: Codable, Equatable, Sendable {
    public var name = "experiment"
    public var data = DataConfig()
    public var encoder = EncoderChoice()
    public var head = HeadConfig()
    public var optim = OptimConfig()
    /// Self-supervised pretraining of the UNet encoder before fine-tuning (the SimCLR baseline).
    public var pretrain = PretrainConfig()
    /// Seeds trained (and averaged over) by one run; the paper uses 4.
    public var seeds: [Int] = [0, 1, 2, 3]
    public var cache = CacheConfig()
    public var output = OutputConfig()
    public var run = RunConfig()

    public init() {}

    public struct DataConfig: Codable, Equatable, Sendable {
        /// `auto`, `acdc`, `msd` or `png`.
        public var layout = LayoutChoice.auto
        /// Dataset folder (relative paths are relative to the working directory).
        public var root = "data/acdc"
        /// When > 0 and `root` holds no dataset, synthesise this many phantom patients there first.
        public var synthesize_patients = 0
        public var split_seed = 0
        public var folds = 5
        public var fold = 0
        /// Labelled training patients used (both frames each); 0 means all.
        public var train_size = 1
        /// Classes including background (ACDC: 4).
        public var classes = 4
        /// Names of labels 1..<classes for tables, CSV and JSON; empty: ACDC's RV, Myo, LV with 4
        /// classes, else "class 1", "class 2", ... (`ExperimentConfig.classNames`).
        public var class_names: [String] = []
        /// Encoder input normalisation: `reference` (AutoSAM) or `sam` (SAM's own), DESIGN §3.1.
        public var input_mode = InputMode.reference
        /// Slice size after the resize step of augmentation (the reference uses 224).
        public var slice_size = 224
        /// `reference` (augment every step), `bank` (K cached augmented views per slice) or `none`.
        public var augmentation = AugmentationMode.reference
        public var bank_views = 4
        /// Where the ranks get the volumes: `shared`, every node reads `root` (a shared or
        /// replicated folder); `broadcast`, the coordinator alone reads them and sends them to the
        /// other ranks (the data need only be on its node).
        public var distribute = DataDistribution.shared
        public init() {}
    }

    public struct EncoderChoice: Codable, Equatable, Sendable {
        /// A SAM checkpoint (.pth or .safetensors); empty means use `preset` with random weights.
        public var checkpoint = ""
        /// `vit_b`, `vit_l`, `vit_h` or `demo_small`; checked against the checkpoint when both are
        /// given. `auto` takes the configuration from the checkpoint's shapes alone.
        public var preset = EncoderPreset.vitB
        /// Seed of the random weights when no checkpoint is given (demo only; reported as such).
        public var random_seed = 0
        /// Attention heads of the checkpoint's mask decoder (two-way transformer), used by the
        /// AutoSAM head and the box baseline: checkpoints do not store it; 8 in every SAM release.
        public var decoder_heads = 8
        /// `fp32`, or `bf16` for the large linears in bfloat16 (AVX512-BF16 or AMX CPUs only): ~1.5x
        /// faster encoding, embeddings with cosine similarity >= 0.999 to fp32.
        public var precision = EncoderArithmetic.fp32
        public init() {}
    }

    public struct HeadConfig: Codable, Equatable, Sendable {
        /// `autosam`, `cnn`, `linear` or `unet` (the UNet baseline trained from scratch on the raw
        /// slices: no SAM encoder is loaded, `IdentitySliceEncoder` feeds it the augmented slice),
        /// or `sam_box` (zero-shot SAM with ground-truth box prompts: no training, one seed; needs
        /// `encoder.checkpoint`).
        public var kind = HeadKind.autosam
        /// CNN head depth k (2...5); for `unet` the number of max-pool down-sampling levels
        /// (`data.slice_size` must be a multiple of 2^depth).
        public var depth = 4
        /// CNN head top channel count t; for `unet` the base width (channels of the first level,
        /// doubled at every level).
        public var channels = 64
        /// `sam_box` only: the SAM input path, `reference` (the reference's [0,1] images through
        /// SAM's 0-255 normalisation) or `corrected` (`BoxInputPath`).
        public var box_input = BoxInputPath.reference
        public init() {}
    }

    public struct OptimConfig: Codable, Equatable, Sendable {
        public var epochs = 120
        /// Global batch (the same whatever the number of ranks, DESIGN §2).
        public var batch_size = 4
        public var lr: Float = 5e-4
        /// `plateau` (ReduceLROnPlateau, reference) or `none`.
        public var scheduler = SchedulerChoice.plateau
        public var scheduler_start_epoch = 10
        /// Model used for testing: `last` (reference) or `best` (lowest validation loss).
        public var test_model = TestModel.last
        /// Validation Dice loss after every N-th epoch (1: every epoch, as the reference). Only
        /// validated epochs can be the best model; the others log no validation loss.
        public var validate_every = 1
        /// The validation Dice loss: `whole_set` (ours: the batch soft-Dice of the whole
        /// validation set as one batch, independent of batch size and rank count) or
        /// `batch_mean` (the reference's: the mean over consecutive batches of `batch_size`
        /// slices of each batch's soft-Dice loss).
        public var validation_loss = ValidationLoss.wholeSet
        public init() {}
    }

    /// SimCLR (Chen et al. 2020) for the UNet baseline (DESIGN §1, issue 8): the UNet's encoder
    /// path, global average pooling and a projection MLP are trained with NT-Xent on two
    /// augmented views of every slice of the fold's training patients (labels unused), then the
    /// whole UNet is fine-tuned from the pretrained encoder with `optim`.
    public struct PretrainConfig: Codable, Equatable, Sendable {
        /// `none` or `simclr` (needs `head.kind = unet`).
        public var method = PretrainMethod.none
        public var epochs = 100
        /// Global batch of slices N (2N views; the NT-Xent negatives of a view are the other
        /// 2N - 2), the same whatever the number of ranks.
        public var batch_size = 32
        public var lr: Float = 1e-3
        /// NT-Xent temperature (0.5 in the paper's SimCLR baseline).
        public var temperature = 0.5
        /// Output width of the projection MLP (Linear C -> hidden, ReLU, Linear hidden -> dim).
        public var projection_dim = 128
        /// Hidden width of the projection MLP; 0 means the bottleneck's channel count (SimCLR's choice).
        public var projection_hidden = 0
        /// Views per forward/backward chunk on a rank; 0 means all of the rank's views at once.
        /// Chunks bound activation memory (3.7 GB peak for 16 views of 224 px at width 64) at the
        /// cost of one extra forward pass when a rank has more views than this.
        public var micro_batch = 16
        public init() {}
    }

    public struct CacheConfig: Codable, Equatable, Sendable {
        public var enabled = true
        /// Cache folder; empty means `<output.dir>/cache`.
        public var dir = ""
        /// `fp16` or `fp32`: the precision of cached training entries (clean views with
        /// augmentation `none`, bank views); validation and test entries are always fp32.
        public var dtype = CachePrecision.fp16
        public init() {}
    }

    public struct OutputConfig: Codable, Equatable, Sendable {
        public var dir = "runs/experiment"
        /// Complete checkpoints kept besides the best one.
        public var keep_checkpoints = 3
        /// Checkpoint every N epochs.
        public var checkpoint_every = 1
        /// Also checkpoint mid-epoch every N optimiser steps (0: off); bounds the work a hard kill
        /// loses. Mid-epoch checkpoints replace each other; a stop request always writes one.
        public var checkpoint_every_steps = 0
        /// Also checkpoint mid-epoch when this many minutes passed since the last checkpoint (0: off).
        public var checkpoint_every_minutes = 0.0
        public init() {}
    }

    public struct RunConfig: Codable, Equatable, Sendable {
        /// BLAS threads per rank; 0 means cores / local ranks.
        public var threads = 0
        /// Single-node debug checks: NaN/Inf detection and verbose per-phase timing.
        public var debug_checks = false
        /// Verify after every step that parameters are bit-identical across ranks.
        public var verify_ranks = false
        /// Seconds between progress lines (whole-run ETA over cache build, training and test);
        /// 0 turns them off.
        public var progress_every = 30.0
        /// Progress lines from every rank, not only the coordinator.
        public var progress_all_ranks = false
        /// Seconds one MPI collective may wait for the other ranks before the job is ended
        /// (`CollectiveWatchdog`: a hung or stopped rank must not hang the job); 0 disables it.
        /// Must exceed the longest work between two collectives (a rank's encoder passes, the
        /// coordinator's checkpointing and test scoring).
        public var collective_timeout = 600.0
        public init() {}
    }
}

extension ExperimentConfig {
    /// Names of labels 1..<data.classes: `data.class_names`, or the default for the class count.
    public var classNames: [String] {
        data.class_names.isEmpty ? Self.defaultClassNames(data.classes) : data.class_names
    }

    /// ACDC's names (RV, Myo, LV) for 4 classes, else "class c".
    public static func defaultClassNames(_ classes: Int) -> [String] {
        classes == 4 ? ["RV", "Myo", "LV"] : (1..<max(classes, 1)).map { "class \($0)" }
    }
}

extension ExperimentConfig {
    /// Optimiser steps in one epoch over `trainSlices` slices: ceil(slices / global batch).
    public func stepsPerEpoch(trainSlices: Int) -> Int { (trainSlices + optim.batch_size - 1) / optim.batch_size }
}
