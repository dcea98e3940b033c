import Foundation
import Metrics

/// Reads the per-volume scores `ScoreCSV` writes (`seed_<s>/test_volumes.csv`) back into
/// `VolumeScores`: one row per volume and class, an empty field for an undefined distance.
enum VolumeCSV {
    static func read(_ url: URL, classNames: [String]) throws -> [VolumeScores] {
        let text = try SeedRecords.readText(url, what: "the per-volume test scores")
        func fail(_ line: Int, _ message: String) -> ReportError {
            ReportError(path: url.path, message: "line \(line): \(message)")
        }
        let lines = text.split(separator: "\n")
            .map { String($0).trimmingCharacters(in: CharacterSet(charactersIn: "\r")) }
        guard lines.first == ScoreCSV.header else {
            throw fail(1, "expected the header \(ScoreCSV.header)")
        }
        var volumes: [VolumeScores] = []
        for (n, line) in lines.enumerated().dropFirst() where !line.isEmpty {
            guard let fields = parse(line) else { throw fail(n + 1, "unbalanced quotes") }
            guard fields.count == 8 else { throw fail(n + 1, "\(fields.count) fields, expected 8") }
            func number(_ i: Int) throws -> Double? {
                if fields[i].isEmpty { return nil }
                guard let v = Double(fields[i]) else { throw fail(n + 1, "'\(fields[i])' is not a number") }
                return v
            }
            guard let dice = try number(2), let predicted = Int(fields[6]), let reference = Int(fields[7]) else {
                throw fail(n + 1, "missing Dice or voxel counts")
            }
            let scores = ClassScores(dice: dice, assd: try number(3), hd95: try number(4), hd: try number(5),
                                     predictedVoxels: predicted, referenceVoxels: reference)
            if volumes.last?.name == fields[0] {
                volumes[volumes.count - 1].classes.append(scores)
            } else {
                volumes.append(VolumeScores(name: fields[0], classes: [scores]))
            }
        }
        if let bad = volumes.first(where: { $0.classes.count != classNames.count }) {
            throw ReportError(path: url.path, message: "volume \(bad.name) has \(bad.classes.count) class rows, "
                              + "the config names \(classNames.count) classes (\(classNames.joined(separator: ", ")))")
        }
        guard !volumes.isEmpty else { throw ReportError(path: url.path, message: "no test volumes listed") }
        return volumes
    }

    /// The fields of one RFC 4180 line; nil when a quote is left open.
    static func parse(_ line: String) -> [String]? {
        var fields: [String] = [], field = "", quoted = false
        var chars = line.makeIterator()
        func step(_ c: Character) {
            switch c {
            case "\"": quoted = true
            case ",": fields.append(field); field = ""
            default: field.append(c)
            }
        }
        while let c = chars.next() {
            if quoted {
                if c == "\"" {
                    if let next = chars.next() {
                        if next == "\"" { field.append("\"") } else { quoted = false; step(next) }
                    } else { quoted = false }
                } else { field.append(c) }
            } else { step(c) }
        }
        guard !quoted else { return nil }
        return fields + [field]
    }
}
