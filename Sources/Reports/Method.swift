import Config
import Foundation

/// What a run compares as, in suite reports: the head or baseline, qualified by the settings
/// that tell apart runs of the same kind in one suite (encoder size, head depth, ...).
enum Method {
    /// The head kind by name; the UNet is "SimCLR UNet" when it pretrains, the box baseline names
    /// its input path.
    static func baseName(_ c: ExperimentConfig) -> String {
        switch c.head.kind {
        case .autosam: return "AutoSAM"
        case .cnn: return "CNN head"
        case .linear: return "Linear head"
        case .unet:
            switch c.pretrain.method {
            case .none: return "UNet"
            case .simclr: return "SimCLR UNet"
            }
        case .samBox: return "SAM box prompts (\(c.head.box_input))"
        }
    }

    /// Settings that may distinguish methods of the same base name, with how they read.
    static let qualifiers: [(String, (ExperimentConfig) -> String)] = [
        ("encoder", { $0.head.kind == .unet ? "-" : $0.encoder.preset.rawValue }),
        ("depth", { "\($0.head.depth)" }),
        ("channels", { "\($0.head.channels)" }),
        ("input", { $0.data.input_mode.rawValue }),
        ("augmentation", { $0.data.augmentation.rawValue }),
    ]

    /// The order of comparison rows and figure lines: heads before baselines (AutoSAM, CNN,
    /// linear, UNet, SimCLR UNet, box prompts), then encoder size (ViT-B, L, H), head depth,
    /// width, and training patients (all, train_size 0, last); configs equal in all of these
    /// keep their order. A folder lists runs alphabetically, which would put vit_h before vit_l.
    static func ordered<T>(_ items: [T], by config: (T) -> ExperimentConfig) -> [T] {
        func key(_ c: ExperimentConfig) -> [Int] {
            func index<C: ConfigChoice>(_ value: C) -> Int { Array(C.allCases).firstIndex(of: value) ?? 0 }
            return [index(c.head.kind), index(c.pretrain.method), index(c.head.box_input), index(c.encoder.preset),
                    c.head.depth, c.head.channels, c.data.train_size == 0 ? Int.max : c.data.train_size]
        }
        return items.enumerated().sorted { a, b in
            let (ka, kb) = (key(config(a.element)), key(config(b.element)))
            return ka == kb ? a.offset < b.offset : ka.lexicographicallyPrecedes(kb)
        }.map(\.element)
    }

    /// A label per config: the base name, plus each qualifier whose value differs among the
    /// configs of that base name ("AutoSAM (encoder vit_h)").
    static func labels(_ configs: [ExperimentConfig]) -> [String] {
        let bases = configs.map(baseName)
        return configs.indices.map { i in
            let peers = configs.indices.filter { bases[$0] == bases[i] }.map { configs[$0] }
            let varying = qualifiers.filter { _, value in Set(peers.map(value)).count > 1 }
            guard !varying.isEmpty else { return bases[i] }
            return bases[i] + " (" + varying.map { "\($0.0) \($0.1(configs[i]))" }.joined(separator: ", ") + ")"
        }
    }
}
