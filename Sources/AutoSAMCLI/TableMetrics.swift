import ArgumentParser
import Metrics

/// The `--metrics` option of the commands that print a results table.
enum TableMetrics {
    /// "dice,assd" -> [.dice, .assd]; an unknown name is a usage error naming it.
    static func parse(_ text: String) throws -> [Metric] {
        try text.split(separator: ",").map { part in
            let name = part.trimmingCharacters(in: .whitespaces)
            guard let m = Metric(rawValue: name) else {
                throw ValidationError("--metrics: unknown '\(name)'; use dice, assd, hd95, hd")
            }
            return m
        }
    }
}
