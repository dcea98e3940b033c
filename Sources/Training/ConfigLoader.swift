import Foundation

/// A configuration problem: which file or override, which key, what was wrong.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public let source: String
    public let message: String
    public var description: String { "\(source): \(message)" }
}

/// Reads an `ExperimentConfig` from JSON with defaults, unknown-key rejection, `--set` overrides
/// and validation of the allowed values.
///
/// The known key tree is the encoded default config itself, so there is exactly one place that
/// lists keys and defaults (`ExperimentConfig`).
public enum ConfigLoader {
    /// Loads `file` (nil: defaults only), applies `overrides` (`a.b=value`, value parsed as JSON when
    /// it is valid JSON, else taken as a string), validates and returns the resolved config.
    public static func load(file: URL?, overrides: [String] = []) throws -> ExperimentConfig {
        var tree = try defaultsTree()
        if let file {
            let data: Data
            do { data = try Data(contentsOf: file) } catch {
                throw ConfigError(source: file.path, message: "cannot read the config file (\(error.localizedDescription))")
            }
            guard let user = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw ConfigError(source: file.path, message: "not a JSON object")
            }
            try merge(user, into: &tree, prefix: [], source: file.path)
        }
        for item in overrides {
            guard let eq = item.firstIndex(of: "="), eq != item.startIndex else {
                throw ConfigError(source: "--set \(item)", message: "expected key.path=value")
            }
            let path = item[..<eq].split(separator: ".").map(String.init)
            let text = String(item[item.index(after: eq)...])
            let value = (try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])) ?? text
            try set(value, at: path, in: &tree, source: "--set \(item)")
        }
        let merged = try JSONSerialization.data(withJSONObject: tree)
        let config: ExperimentConfig
        do { config = try JSONDecoder().decode(ExperimentConfig.self, from: merged) } catch let DecodingError.typeMismatch(type, context) {
            throw ConfigError(source: file?.path ?? "config", message: "key \(context.codingPath.map(\.stringValue).joined(separator: ".")) must be \(type)")
        } catch {
            throw ConfigError(source: file?.path ?? "config", message: "\(error)")
        }
        try validate(config, source: file?.path ?? "config")
        return config
    }

    /// Pretty JSON of a resolved config (printed at start, saved with every run and checkpoint).
    public static func render(_ config: ExperimentConfig) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try! encoder.encode(config), as: UTF8.self)
    }

    static func defaultsTree() throws -> [String: Any] {
        let data = try JSONEncoder().encode(ExperimentConfig())
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    private static func merge(_ user: [String: Any], into tree: inout [String: Any], prefix: [String], source: String) throws {
        for (key, value) in user {
            try set(value, at: [key], in: &tree, prefix: prefix, source: source)
        }
    }

    /// Sets `value` at `path` inside `tree`, whose own position in the full tree is `prefix`.
    private static func set(_ value: Any, at path: [String], in tree: inout [String: Any], prefix: [String] = [],
                            source: String) throws {
        let key = path[0]
        let dotted = (prefix + path).joined(separator: ".")
        guard let current = tree[key] else {
            let hint = closest(key, in: Array(tree.keys)).map { " (did you mean '\($0)'?)" } ?? ""
            throw ConfigError(source: source, message: "unknown key '\(dotted)'\(hint)")
        }
        guard var section = current as? [String: Any] else {
            guard path.count == 1 else {
                throw ConfigError(source: source, message: "key '\((prefix + [key]).joined(separator: "."))' is not a section, cannot set '\(dotted)'")
            }
            tree[key] = value
            return
        }
        if path.count == 1 {
            guard let object = value as? [String: Any] else {
                throw ConfigError(source: source, message: "key '\(dotted)' is a section; give an object")
            }
            try merge(object, into: &section, prefix: prefix + [key], source: source)
        } else {
            try set(value, at: Array(path.dropFirst()), in: &section, prefix: prefix + [key], source: source)
        }
        tree[key] = section
    }

    private static func closest(_ key: String, in candidates: [String]) -> String? {
        func distance(_ a: String, _ b: String) -> Int {
            let a = Array(a), b = Array(b)
            var row = Array(0...b.count)
            for i in 1...max(a.count, 1) where !a.isEmpty {
                var previous = row[0]
                row[0] = i
                for j in 1...max(b.count, 1) where !b.isEmpty {
                    let cost = a[i - 1] == b[j - 1] ? 0 : 1
                    let next = min(row[j] + 1, row[j - 1] + 1, previous + cost)
                    previous = row[j]
                    row[j] = next
                }
            }
            return row[b.count]
        }
        let best = candidates.map { ($0, distance(key, $0)) }.min { $0.1 < $1.1 }
        return best.flatMap { $0.1 <= max(2, key.count / 3) ? $0.0 : nil }
    }

    static func validate(_ c: ExperimentConfig, source: String) throws {
        func require(_ ok: Bool, _ message: String) throws {
            if !ok { throw ConfigError(source: source, message: message) }
        }
        try require(["auto", "acdc", "msd", "png"].contains(c.data.layout), "data.layout must be auto, acdc, msd or png, got '\(c.data.layout)'")
        try require(["reference", "sam"].contains(c.data.input_mode), "data.input_mode must be reference or sam, got '\(c.data.input_mode)'")
        try require(["reference", "bank", "none"].contains(c.data.augmentation), "data.augmentation must be reference, bank or none, got '\(c.data.augmentation)'")
        try require(c.data.classes >= 2, "data.classes must be >= 2")
        try require(c.data.folds >= 1 && c.data.fold >= 0 && c.data.fold < c.data.folds, "data.fold must be in 0..<data.folds")
        try require(c.data.train_size >= 0, "data.train_size must be >= 0")
        try require(c.data.slice_size >= 8, "data.slice_size must be >= 8")
        try require(c.data.bank_views >= 1, "data.bank_views must be >= 1")
        try require(["autosam", "cnn", "linear", "unet", "sam_box"].contains(c.head.kind),
                    "head.kind must be autosam, cnn or linear (heads) or unet or sam_box (baselines), got '\(c.head.kind)'")
        try require(BoxInputPath(rawValue: c.head.box_input) != nil, "head.box_input must be reference or corrected, got '\(c.head.box_input)'")
        try require(c.head.kind != "sam_box" || !c.encoder.checkpoint.isEmpty,
                    "head.kind sam_box needs encoder.checkpoint (a full SAM checkpoint: image encoder, prompt encoder, mask decoder)")
        try require(c.head.kind != "unet" || c.data.slice_size % (1 << c.head.depth) == 0,
                    "data.slice_size must be a multiple of 2^head.depth for the unet")
        try require((2...5).contains(c.head.depth), "head.depth must be in 2...5")
        try require(c.head.channels >= 1, "head.channels must be >= 1")
        try require(c.optim.epochs >= 1 && c.optim.batch_size >= 1 && c.optim.lr > 0, "optim.epochs, optim.batch_size and optim.lr must be positive")
        try require(["none", "simclr"].contains(c.pretrain.method), "pretrain.method must be none or simclr, got '\(c.pretrain.method)'")
        try require(c.pretrain.method == "none" || c.head.kind == "unet", "pretrain.method simclr pretrains the UNet baseline's encoder: it needs head.kind unet")
        try require(c.pretrain.epochs >= 1 && c.pretrain.lr > 0 && c.pretrain.temperature > 0 && c.pretrain.projection_dim >= 1,
                    "pretrain.epochs, pretrain.lr, pretrain.temperature and pretrain.projection_dim must be positive")
        try require(c.pretrain.batch_size >= 2, "pretrain.batch_size must be >= 2 (NT-Xent needs negatives)")
        try require(c.pretrain.projection_hidden >= 0 && c.pretrain.micro_batch >= 0, "pretrain.projection_hidden and pretrain.micro_batch must be >= 0")
        try require(["plateau", "none"].contains(c.optim.scheduler), "optim.scheduler must be plateau or none")
        try require(["last", "best"].contains(c.optim.test_model), "optim.test_model must be last or best")
        try require(c.optim.validate_every >= 1, "optim.validate_every must be >= 1")
        try require(["whole_set", "batch_mean"].contains(c.optim.validation_loss), "optim.validation_loss must be whole_set or batch_mean, got '\(c.optim.validation_loss)'")
        try require(c.optim.test_model != "best" || c.optim.validate_every <= c.optim.epochs,
                    "optim.test_model best needs a validated epoch: optim.validate_every (\(c.optim.validate_every)) is above optim.epochs (\(c.optim.epochs))")
        try require(!c.seeds.isEmpty && Set(c.seeds).count == c.seeds.count, "seeds must be a non-empty list of distinct integers")
        try require(["fp16", "fp32"].contains(c.cache.dtype), "cache.dtype must be fp16 or fp32")
        try require(c.encoder.checkpoint.isEmpty ? ["vit_b", "vit_l", "vit_h", "demo_small"].contains(c.encoder.preset)
                        : ["vit_b", "vit_l", "vit_h", "auto"].contains(c.encoder.preset),
                    "encoder.preset must be vit_b, vit_l, vit_h or demo_small without a checkpoint, vit_b, vit_l, vit_h or auto with one")
        try require(c.encoder.decoder_heads >= 1, "encoder.decoder_heads must be >= 1")
        try require(c.output.keep_checkpoints >= 1 && c.output.checkpoint_every >= 1, "output.keep_checkpoints and output.checkpoint_every must be >= 1")
        try require(c.run.threads >= 0 && c.run.progress_every >= 1, "run.threads must be >= 0 and run.progress_every >= 1")
    }
}
