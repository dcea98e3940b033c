import Foundation
import Checkpoints
import Tensors

/// The PyTorch golden fixtures (copied from the team's shared folder into this target's
/// resources; `Fixtures/FIXTURES.md` describes them) and their manifest.
public enum Fixtures {
    public static var directory: URL {
        Bundle.module.resourceURL!.appendingPathComponent("Fixtures")
    }

    public static func url(_ name: String) -> URL { directory.appendingPathComponent(name) }

    /// A fixture safetensors file, e.g. `"dice_loss_unit"`.
    public static func file(_ name: String) throws -> SafeTensorsFile {
        try SafeTensorsFile(contentsOf: url(name + ".safetensors"))
    }

    /// The parsed `manifest.json`.
    public static let manifest: [String: Any] = {
        let data = try! Data(contentsOf: url("manifest.json"))
        return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    }()

    /// Manifest entry of one tensor of one file.
    public static func tensorInfo(_ file: String, _ tensor: String) -> [String: Any]? {
        let files = manifest["files"] as? [String: Any]
        let entry = files?[file + ".safetensors"] as? [String: Any]
        return (entry?["tensors"] as? [String: Any])?[tensor] as? [String: Any]
    }

    /// The manifest's `suggested_atol` for a tensor (10x the float32-vs-float64 noise).
    public static func suggestedAtol(_ file: String, _ tensor: String, default fallback: Float = 1e-5) -> Float {
        guard let v = tensorInfo(file, tensor)?["suggested_atol"] as? Double else { return fallback }
        return Float(v)
    }

    /// The fixture configuration (`manifest.config`).
    public static var config: [String: Any] { manifest["config"] as? [String: Any] ?? [:] }
}
