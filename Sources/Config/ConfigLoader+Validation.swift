import TensorFiles
import Foundation
#if canImport(Glibc)
import Glibc
#endif

extension ConfigLoader {
    /// Checks every value against what the code that uses it accepts: ranges that keep each
    /// count, size and seed clear of the preconditions and integer conversions downstream
    /// (`VolumeLoader` classes 2...256, `UInt64(seed)`, `Splits` folds, shifts and products of
    /// sizes, OpenBLAS's Int32 thread count) and the rules between keys (the names of choice keys
    /// are checked by `ConfigSchema`). `sources` maps dotted keys to the source that set them (the
    /// error names those of the keys involved), `fallback` is named when none of them was set.
    static func validate(_ c: ExperimentConfig, sources: [String: String] = [:], fallback: String = "config") throws {
        let check = ValueChecks(sources: sources, fallback: fallback)
        try check.data(c)
        try check.model(c)
        try check.optimisation(c)
        try check.runKeys(c)
    }

    /// The mask decoder's attention needs `encoder.decoder_heads` to divide its widths (the
    /// transformer dim and the cross attentions' dim), which only the checkpoint knows: checked
    /// here, where it is a config error, rather than by a precondition when the decoder is built.
    /// Only when the checkpoint opens and has the keys; anything else is reported by the loader.
    static func checkDecoderHeads(_ c: ExperimentConfig, sources: [String: String], fallback: String) throws {
        guard [.autosam, .samBox].contains(c.head.kind), !c.encoder.checkpoint.isEmpty else { return }
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: c.encoder.checkpoint, isDirectory: &isFolder), !isFolder.boolValue,
              let archive = try? TensorArchives.open(URL(fileURLWithPath: c.encoder.checkpoint)) else { return }
        let prefix = "mask_decoder.transformer."
        guard let dim = try? archive.info(prefix + "norm_final_attn.weight").shape,
              let q = try? archive.info(prefix + "layers.0.cross_attn_token_to_image.q_proj.weight").shape,
              dim.count == 1, q.count == 2, dim[0] > 0, q[0] > 0 else { return }
        let heads = c.encoder.decoder_heads
        guard dim[0] % heads != 0 || q[0] % heads != 0 else { return }
        let source = sources["encoder.decoder_heads"] ?? sources["encoder.checkpoint"] ?? fallback
        throw ConfigError(source: source, message: "encoder.decoder_heads must divide the mask decoder widths "
                          + "\(dim[0]) and \(q[0]) of \(c.encoder.checkpoint) (every SAM release: 8), got \(heads)")
    }
}

/// The checks of `ConfigLoader.validate`, by section, and the wording of their errors.
private struct ValueChecks {
    let sources: [String: String]
    let fallback: String

    func fail(_ keys: [String], _ message: String) -> ConfigError {
        var named: [String] = []
        for key in keys { if let s = sources[key], !named.contains(s) { named.append(s) } }
        return ConfigError(source: named.isEmpty ? fallback : named.joined(separator: ", "), message: message)
    }
    func require(_ ok: Bool, _ keys: [String], _ message: @autoclosure () -> String) throws {
        if !ok { throw fail(keys, message()) }
    }
    func within(_ key: String, _ value: Int, _ range: ClosedRange<Int>) throws {
        try require(range.contains(value), [key],
                    "\(key) must be in \(range.lowerBound)...\(range.upperBound), got \(value)")
    }
    func atLeast(_ key: String, _ value: Int, _ minimum: Int) throws {
        try require(value >= minimum, [key], "\(key) must be >= \(minimum), got \(value)")
    }
    func positive<T: BinaryFloatingPoint>(_ key: String, _ value: T) throws {
        try require(value > 0 && value.isFinite, [key], "\(key) must be a positive number, got \(value)")
    }
    func nonEmpty(_ key: String, _ value: String) throws {
        try require(!value.isEmpty, [key], "\(key) must name a folder, got an empty string")
    }

    func data(_ c: ExperimentConfig) throws {
        let d = c.data
        try nonEmpty("data.root", d.root)
        try within("data.synthesize_patients", d.synthesize_patients, 0...999)     // ACDC names patient001...patient999
        try atLeast("data.split_seed", d.split_seed, 0)
        try within("data.folds", d.folds, 1...1000)
        try require((0..<d.folds).contains(d.fold), ["data.fold", "data.folds"],
                    "data.fold must be in 0..<data.folds (0...\(d.folds - 1)), got \(d.fold)")
        try atLeast("data.train_size", d.train_size, 0)
        try within("data.classes", d.classes, 2...256)
        let names = d.class_names
        try require(names.isEmpty || names.count == d.classes - 1, ["data.class_names", "data.classes"],
                    "data.class_names must name the \(d.classes - 1) labels 1..<data.classes (background unnamed), "
                    + "got \(names.count) names \(names)")
        if let bad = names.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces).isEmpty }) {
            throw fail(["data.class_names"], "data.class_names[\(bad)] is empty")
        }
        try require(Set(names).count == names.count, ["data.class_names"],
                    "data.class_names must be distinct, got \(names)")
        try within("data.slice_size", d.slice_size, 8...4096)
        try within("data.bank_views", d.bank_views, 1...1000)
    }

    /// The encoder, the head and the pretraining of its encoder.
    func model(_ c: ExperimentConfig) throws {
        let e = c.encoder, h = c.head, p = c.pretrain
        try require(e.checkpoint.isEmpty ? e.preset != .auto : e.preset != .demoSmall,
                    ["encoder.preset", "encoder.checkpoint"],
                    "encoder.preset must be vit_b, vit_l, vit_h or demo_small without a checkpoint, "
                    + "vit_b, vit_l, vit_h or auto with one, got '\(e.preset)'")
        try atLeast("encoder.random_seed", e.random_seed, 0)
        try atLeast("encoder.decoder_heads", e.decoder_heads, 1)
        try require(h.kind != .samBox || !e.checkpoint.isEmpty, ["head.kind", "encoder.checkpoint"],
                    "head.kind sam_box needs encoder.checkpoint (a full SAM checkpoint: image encoder, prompt encoder, "
                    + "mask decoder)")
        try within("head.depth", h.depth, 2...5)
        try require(h.kind != .unet || c.data.slice_size % (1 << h.depth) == 0,
                    ["data.slice_size", "head.depth", "head.kind"],
                    "data.slice_size must be a multiple of 2^head.depth for the unet (\(1 << h.depth)), "
                    + "got \(c.data.slice_size)")
        try within("head.channels", h.channels, 1...1024)
        try require(p.method == .none || h.kind == .unet, ["pretrain.method", "head.kind"],
                    "pretrain.method simclr pretrains the UNet baseline's encoder: it needs head.kind unet")
        try within("pretrain.epochs", p.epochs, 1...100_000)
        try within("pretrain.batch_size", p.batch_size, 2...100_000)
        try positive("pretrain.lr", p.lr)
        try positive("pretrain.temperature", p.temperature)
        try within("pretrain.projection_dim", p.projection_dim, 1...8192)
        try within("pretrain.projection_hidden", p.projection_hidden, 0...8192)
        try within("pretrain.micro_batch", p.micro_batch, 0...100_000)
    }

    func optimisation(_ c: ExperimentConfig) throws {
        let o = c.optim
        try within("optim.epochs", o.epochs, 1...100_000)
        try within("optim.batch_size", o.batch_size, 1...100_000)
        try positive("optim.lr", o.lr)
        try atLeast("optim.scheduler_start_epoch", o.scheduler_start_epoch, 0)
        try atLeast("optim.validate_every", o.validate_every, 1)
        try require(o.test_model != .best || o.validate_every <= o.epochs,
                    ["optim.test_model", "optim.validate_every", "optim.epochs"],
                    "optim.test_model best needs a validated epoch: optim.validate_every (\(o.validate_every)) "
                    + "is above optim.epochs (\(o.epochs))")
        try require(!c.seeds.isEmpty && Set(c.seeds).count == c.seeds.count, ["seeds"],
                    "seeds must be a non-empty list of distinct integers, got \(c.seeds)")
        if let i = c.seeds.firstIndex(where: { $0 < 0 }) {
            throw fail(["seeds"], "seeds[\(i)] must be >= 0, got \(c.seeds[i])")
        }
    }

    /// Output, checkpoints and the run's own settings.
    func runKeys(_ c: ExperimentConfig) throws {
        try nonEmpty("output.dir", c.output.dir)
        try atLeast("output.keep_checkpoints", c.output.keep_checkpoints, 1)
        try atLeast("output.checkpoint_every", c.output.checkpoint_every, 1)
        try atLeast("output.checkpoint_every_steps", c.output.checkpoint_every_steps, 0)
        try require(c.output.checkpoint_every_minutes >= 0, ["output.checkpoint_every_minutes"],
                    "output.checkpoint_every_minutes must be >= 0 (0: off), got \(c.output.checkpoint_every_minutes)")
        try within("run.threads", c.run.threads, 0...1024)
        try require(c.run.progress_every >= 0 && c.run.progress_every.isFinite, ["run.progress_every"],
                    "run.progress_every must be >= 0 seconds (0: no progress lines), got \(c.run.progress_every)")
        try require(c.run.collective_timeout >= 0 && c.run.collective_timeout.isFinite, ["run.collective_timeout"],
                    "run.collective_timeout must be >= 0 seconds (0 disables the watchdog), "
                    + "got \(c.run.collective_timeout)")
    }
}
