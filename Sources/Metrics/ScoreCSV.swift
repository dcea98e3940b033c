import Foundation

/// Per-volume scores as CSV (RFC 4180): one row per volume and class,
///
///     volume,class,dice,assd,hd95,hd,predicted_voxels,reference_voxels
///
/// with the shortest decimal text that round-trips each double, and an empty field for an
/// undefined value.
public enum ScoreCSV {
    public static let header = "volume,class,dice,assd,hd95,hd,predicted_voxels,reference_voxels"

    /// `classNames[c - 1]` names label `c`.
    public static func perVolume(_ volumes: [VolumeScores], classNames: [String]) -> String {
        var lines = [header]
        for volume in volumes {
            precondition(volume.classes.count == classNames.count,
                         "\(volume.name): \(volume.classes.count) classes, \(classNames.count) names")
            for (name, s) in zip(classNames, volume.classes) {
                let values = Metric.allCases.map { s[$0].map { "\($0)" } ?? "" }
                let fields = [field(volume.name), field(name)] + values
                    + ["\(s.predictedVoxels)", "\(s.referenceVoxels)"]
                lines.append(fields.joined(separator: ","))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Quotes a text field when it holds a comma, quote or line break.
    static func field(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
