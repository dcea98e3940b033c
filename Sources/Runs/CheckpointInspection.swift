import TensorFiles
import Config
import Foundation
import SAM

/// What a checkpoint file holds (`autosam inspect`): format, size and SHA-256; the model type
/// (a SAM preset, a custom SAM-shaped model, or a head checkpoint of our trainer); the inferred
/// configurations; parameter counts per part; dtypes. Every tensor is read once, so a damaged
/// file fails here with the file and tensor named rather than later in training.
///
/// `problems` lists what would stop the checkpoint from loading although it could be read:
/// keys that differ from the SAM key tables of the inferred configuration, non-finite values,
/// a head file whose checksum disagrees with its `state.json`.
public struct CheckpointInspection {
    public enum Kind: Equatable {
        /// A SAM checkpoint; `preset` is `vit_b`/`vit_l`/`vit_h`, nil for another configuration.
        case sam(preset: String?)
        /// `head.safetensors` of a `train` checkpoint (`params/...`, `frozen/...`).
        case trainedHead
    }

    public struct Part: Equatable {
        public let name: String
        public let tensors: Int
        public let parameters: Int
    }

    public let path: String
    public let format: TensorArchiveFormat
    public let fileSize: Int
    public let sha256: String
    public let kind: Kind
    public let parts: [Part]
    /// dtype -> number of tensors, by dtype name.
    public let dtypes: [(dtype: DType, tensors: Int)]
    public let encoder: EncoderConfig?
    public let promptEncoder: PromptEncoderConfig?
    public let maskDecoder: MaskDecoderConfig?
    /// The training state next to a trainer's head file (`state.json`), when present.
    public let training: TrainingCheckpoint.State?
    public let problems: [String]
    /// Facts worth knowing that are not problems (for example an encoder-only checkpoint).
    public let notes: [String]

    public var parameterCount: Int { parts.reduce(0) { $0 + $1.parameters } }

    /// "SAM vit_b", "custom SAM-shaped model", "AutoSAM head checkpoint".
    public var modelType: String {
        switch kind {
        case .sam(let preset?): return "SAM \(preset)"
        case .sam(nil): return "custom SAM-shaped model (not a vit_b/vit_l/vit_h preset)"
        case .trainedHead:
            let head = training.map { "\($0.config.head.kind)" } ?? "head kind unknown: no state.json"
            return "head checkpoint written by autosam train (\(head))"
        }
    }

    /// The preset closest to `config` (fewest differing fields) and the differences.
    public static func closestPreset(to config: EncoderConfig) -> (name: String, differences: [String]) {
        EncoderConfig.presets.map { ($0.name, config.check(against: $0.config)) }.min { $0.1.count < $1.1.count }!
    }
}

extension CheckpointInspection {
    static let samParts = ["image_encoder", "prompt_encoder", "mask_decoder"]

    /// Reads and checks the file at `url` (see the type's description).
    public static func inspect(_ url: URL) throws -> CheckpointInspection {
        let archive = try TensorArchives.open(url)
        let infos: [TensorInfo]
        do { infos = try archive.infos() } catch {
            throw RunFileError(path: url.path, message: "damaged: the tensor index cannot be read (\(error))")
        }
        let nonFinite = try readEveryTensor(archive, infos)
        let size = ((try? FileManager.default.attributesOfItem(atPath: url.path))?[.size] as? NSNumber)?.intValue ?? 0
        let sha = try SHA256.hexDigest(ofFile: url)
        let dtypes = Dictionary(grouping: infos, by: \.dtype).map { (dtype: $0.key, tensors: $0.value.count) }
            .sorted { $0.dtype.rawValue < $1.dtype.rawValue }
        var problems = nonFinite > 0 ? ["\(nonFinite) non-finite (NaN or Inf) values"] : []
        var notes: [String] = []
        let format: TensorArchiveFormat = archive is PthCheckpoint ? .pth : .safetensors
        if format == .safetensors, !infos.isEmpty,
           infos.allSatisfy({ $0.name.hasPrefix("params/") || $0.name.hasPrefix("frozen/") }) {
            let training = try trainingState(next: url, sha256: sha, problems: &problems, notes: &notes)
            if infos.contains(where: { $0.name == "params/projection.0.weight" }) {
                notes.append("SimCLR pretraining checkpoint: the UNet's encoder path and the projection MLP"
                             + (training.map { " (\($0.epoch) of \($0.config.pretrain.epochs) pretraining epochs)" }
                                ?? ""))
            }
            return CheckpointInspection(
                path: url.path, format: format, fileSize: size, sha256: sha, kind: .trainedHead,
                parts: partCounts(infos, names: ["params", "frozen"]), dtypes: dtypes, encoder: nil, promptEncoder: nil,
                maskDecoder: nil, training: training, problems: problems, notes: notes)
        }
        guard infos.contains(where: { $0.name.hasPrefix(EncoderConfig.checkpointPrefix) }) else {
            let examples = infos.prefix(3).map(\.name).joined(separator: ", ")
            throw RunFileError(path: url.path, message: "not a SAM checkpoint: no image_encoder.* tensors "
                                  + "(\(infos.count) tensors: \(examples)\(infos.count > 3 ? ", ..." : "")), "
                                  + "and not a head checkpoint written by autosam train (params/..., frozen/...)")
        }
        let encoder: EncoderConfig
        do { encoder = try EncoderConfig.infer(from: archive) } catch {
            throw RunFileError(path: url.path, message: "not a SAM checkpoint: \(error)")
        }
        let prompt = decoderPart(PromptEncoder.prefix, infos, problems: &problems, notes: &notes) {
            try PromptEncoderConfig.inferred(from: archive)
        }
        let decoder = decoderPart(MaskDecoder.prefix, infos, problems: &problems, notes: &notes) {
            try MaskDecoderConfig.inferred(from: archive)
        }
        problems += keyProblems(infos, encoder: encoder, prompt: prompt, decoder: decoder)
        return CheckpointInspection(
            path: url.path, format: format, fileSize: size, sha256: sha, kind: .sam(preset: encoder.presetName),
            parts: partCounts(infos, names: samParts), dtypes: dtypes, encoder: encoder, promptEncoder: prompt,
            maskDecoder: decoder, training: nil, problems: problems, notes: notes)
    }

    /// Reads every tensor (floating ones as float32, counting non-finite values; integer ones as
    /// integers), so damage anywhere in the data is found now.
    private static func readEveryTensor(_ archive: any TensorArchive, _ infos: [TensorInfo]) throws -> Int {
        var nonFinite = 0
        for info in infos {
            do {
                switch info.dtype {
                case .f32, .f64, .f16, .bf16:
                    nonFinite += try archive.tensor(info.name).data.reduce(0) { $1.isFinite ? $0 : $0 + 1 }
                default:
                    _ = try archive.integers(info.name)
                }
            } catch {
                throw RunFileError(path: archive.path,
                                   message: "damaged: tensor '\(info.name)' \(info.shape) cannot be read (\(error))")
            }
        }
        return nonFinite
    }

    /// Tensors and parameters under each `<name>.` or `<name>/` prefix, then "other" when any remain.
    static func partCounts(_ infos: [TensorInfo], names: [String]) -> [Part] {
        func part(of name: String) -> String {
            names.first { name.hasPrefix($0 + ".") || name.hasPrefix($0 + "/") } ?? "other"
        }
        let groups = Dictionary(grouping: infos) { part(of: $0.name) }
        return (names + ["other"]).compactMap { name in
            let members = groups[name] ?? []
            if name == "other" && members.isEmpty { return nil }
            return Part(name: name, tensors: members.count, parameters: members.reduce(0) { $0 + $1.count })
        }
    }

    /// The configuration of a prompt encoder or mask decoder, nil when the part is absent (noted)
    /// or unreadable (a problem).
    private static func decoderPart<C>(_ prefix: String, _ infos: [TensorInfo], problems: inout [String],
                                       notes: inout [String], infer: () throws -> C) -> C? {
        guard infos.contains(where: { $0.name.hasPrefix(prefix) }) else {
            notes.append("no \(prefix)* tensors (an encoder-only checkpoint)")
            return nil
        }
        do { return try infer() } catch {
            problems.append("cannot infer the \(prefix.dropLast()) configuration: \(error)")
            return nil
        }
    }

    /// Differences between the file's SAM keys and the key tables of the inferred configurations.
    static func keyProblems(_ infos: [TensorInfo], encoder: EncoderConfig, prompt: PromptEncoderConfig?,
                            decoder: MaskDecoderConfig?) -> [String] {
        var expected = ImageEncoderTable(config: encoder).slots.map { (name: $0.key, shape: $0.shape) }
        var prefixes = [EncoderConfig.checkpointPrefix]
        if let prompt { expected += prompt.parameterShapes(); prefixes.append(PromptEncoder.prefix) }
        if let decoder { expected += decoder.parameterShapes(); prefixes.append(MaskDecoder.prefix) }
        let found = Dictionary(infos.map { ($0.name, $0.shape) }, uniquingKeysWith: { a, _ in a })
        let wanted = Set(expected.map(\.name))
        let missing = expected.filter { found[$0.name] == nil }.map(\.name)
        let unused = infos.filter { i in prefixes.contains { i.name.hasPrefix($0) } && !wanted.contains(i.name) }
            .map(\.name)
        let misShaped = expected.compactMap { e in
            found[e.name].flatMap { $0 == e.shape ? nil : "\(e.name): expected \(e.shape), found \($0)" }
        }
        func listed(_ what: String, _ items: [String]) -> [String] {
            items.isEmpty ? [] : ["\(items.count) \(what): " + items.prefix(8).joined(separator: ", ")
                                  + (items.count > 8 ? ", ..." : "")]
        }
        return listed("missing keys", missing) + listed("unused keys", unused) + listed("mis-shaped keys", misShaped)
    }

    /// `state.json` of the checkpoint folder holding a trainer's head file, with its checksum check.
    private static func trainingState(next url: URL, sha256: String, problems: inout [String],
                                      notes: inout [String]) throws -> TrainingCheckpoint.State? {
        let stateURL = url.deletingLastPathComponent().appendingPathComponent("state.json")
        guard let data = try? Data(contentsOf: stateURL) else {
            notes.append("no state.json next to the file: training state unknown")
            return nil
        }
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf",
                                                                        negativeInfinity: "-inf", nan: "nan")
        guard let state = try? decoder.decode(TrainingCheckpoint.State.self, from: data) else {
            throw RunFileError(path: stateURL.path, message: "damaged: not a training state")
        }
        if let expected = state.checksums[url.lastPathComponent] {
            if expected == sha256 { notes.append("SHA-256 matches state.json") } else {
                problems.append("SHA-256 differs from state.json (\(expected)): the file is damaged or was replaced")
            }
        }
        return state
    }
}
