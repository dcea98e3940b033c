import Foundation

/// Differences between two configs as dotted key paths, for resume checks (DESIGN §4.7).
public enum ConfigDiff {
    /// Keys that may change between a run and its resumption: how long to train, how to log,
    /// where to cache, how many threads, where the run folder is (a run may be moved, and a rank
    /// on another node may see it under another path). Everything else must match.
    static let resumable = ["optim.epochs", "run.", "output.keep_checkpoints", "output.checkpoint_every",
                            "output.checkpoint_every_steps", "output.checkpoint_every_minutes", "output.dir", "cache.",
                            "data.distribute", "data.class_names"]

    public static func differences(_ a: ExperimentConfig, _ b: ExperimentConfig)
        -> [(key: String, old: String, new: String)] {
        let fa = flatten(a), fb = flatten(b)
        return Set(fa.keys).union(fb.keys).sorted().compactMap { key in
            let (x, y) = (fa[key] ?? "(absent)", fb[key] ?? "(absent)")
            return x == y ? nil : (key, x, y)
        }
    }

    /// The differences that forbid resuming.
    public static func blocking(_ a: ExperimentConfig, _ b: ExperimentConfig)
        -> [(key: String, old: String, new: String)] {
        differences(a, b).filter { d in
            !resumable.contains { d.key == $0 || ($0.hasSuffix(".") && d.key.hasPrefix($0)) }
        }
    }

    static func flatten(_ c: ExperimentConfig) -> [String: String] {
        let object = try! JSONSerialization.jsonObject(with: JSONEncoder().encode(c))
        var out: [String: String] = [:]
        func walk(_ value: Any, _ path: String) {
            if let dict = value as? [String: Any] {
                for (k, v) in dict { walk(v, path.isEmpty ? k : "\(path).\(k)") }
            } else {
                let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys])
                out[path] = data.map { String(decoding: $0, as: UTF8.self) } ?? "\(value)"
            }
        }
        walk(object, "")
        return out
    }
}
