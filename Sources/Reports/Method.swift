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
