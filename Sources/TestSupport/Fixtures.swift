import Foundation
import XCTest
import TensorFiles
import Tensors

/// The PyTorch golden fixtures (copied from the team's shared folder into this target's
/// resources; `Fixtures/FIXTURES.md` describes them) and their manifest.
///
/// Fixture tests read their sizes from the fixture files and the manifest, so the suite can run against
/// fixtures regenerated with other sizes: `AUTOSAM_FIXTURES_DIR=/path/to/new/fixtures scripts/test.sh`.
public enum Fixtures {
    /// The environment variable naming a fixture folder to use instead of the bundled one.
    public static let directoryVariable = "AUTOSAM_FIXTURES_DIR"

    /// The fixture folder: `$AUTOSAM_FIXTURES_DIR` when it is set and non-empty (e.g. fixtures
    /// regenerated with other sizes), otherwise the bundled `Fixtures` resources.
    public static var directory: URL {
        if let override = overridePath { return URL(fileURLWithPath: override, isDirectory: true) }
        return Bundle.module.resourceURL!.appendingPathComponent("Fixtures")
    }

    /// The non-empty value of `AUTOSAM_FIXTURES_DIR`, if any.
    private static var overridePath: String? {
        guard let path = ProcessInfo.processInfo.environment[directoryVariable], !path.isEmpty else { return nil }
        return path
    }

    /// Where `directory` comes from, for error messages.
    private static var directorySource: String {
        overridePath == nil ? "the bundled fixtures" : "set by \(directoryVariable)"
    }

    /// A file of the fixture folder, e.g. `"tiny_sam.pth"`.
    public static func url(_ name: String) -> URL { directory.appendingPathComponent(name) }

    /// A fixture safetensors file, e.g. `"dice_loss_unit"`.
    public static func file(_ name: String) throws -> SafeTensorsFile {
        try checkDirectory()
        return try SafeTensorsFile(contentsOf: url(name + ".safetensors"))
    }

    /// Throws an error naming `directory` unless it is a readable folder.
    public static func checkDirectory() throws {
        let folder = directory
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isFolder), isFolder.boolValue,
              FileManager.default.isReadableFile(atPath: folder.path) else {
            throw FixtureError(description: "fixture folder \(folder.path) "
                                            + "(\(directorySource)) does not exist or is not a readable folder")
        }
    }

    /// `manifest.json` of `directory`, parsed; the error names the file and its folder.
    public static func readManifest() throws -> [String: Any] {
        try checkDirectory()
        let file = url("manifest.json")
        do {
            guard let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any] else {
                throw FixtureError(description: "not a JSON object")
            }
            return manifest
        } catch {
            throw FixtureError(description: "cannot read the fixture manifest \(file.path) "
                                            + "(\(directorySource)): \(error)")
        }
    }

    private static let loadedManifest = Result { try readManifest() }

    /// The parsed `manifest.json`. If it cannot be read, every access fails the running test with
    /// the folder named, and gives an empty manifest.
    public static var manifest: [String: Any] {
        switch loadedManifest {
        case let .success(manifest): return manifest
        case let .failure(error):
            XCTFail("\(error)")
            return [:]
        }
    }

    /// Manifest entry of one file (`description`, `bytes`, `tensors`, ...), e.g. `"metrics.safetensors"`.
    public static func fileInfo(_ file: String) -> [String: Any]? {
        (manifest["files"] as? [String: Any])?[file] as? [String: Any]
    }

    /// Manifest entry of one tensor of one file.
    public static func tensorInfo(_ file: String, _ tensor: String) -> [String: Any]? {
        (fileInfo(file + ".safetensors")?["tensors"] as? [String: Any])?[tensor] as? [String: Any]
    }

    /// The manifest's `suggested_atol` for a tensor (10x the float32-vs-float64 noise).
    public static func suggestedAtol(_ file: String, _ tensor: String, default fallback: Float = 1e-5) -> Float {
        guard let v = tensorInfo(file, tensor)?["suggested_atol"] as? Double else { return fallback }
        return Float(v)
    }

    /// The fixture configuration (`manifest.config`).
    public static var config: [String: Any] { manifest["config"] as? [String: Any] ?? [:] }
}

/// A fixture folder or manifest that cannot be used.
public struct FixtureError: Error, CustomStringConvertible {
    public let description: String
}
