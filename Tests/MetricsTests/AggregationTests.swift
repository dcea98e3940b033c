import Foundation
import Metrics
import XCTest

/// Statistics over volumes and seeds, and the CSV, JSON and table outputs.
final class AggregationTests: XCTestCase {
    private func scores(_ dice: Double, _ assd: Double?) -> ClassScores {
        ClassScores(dice: dice, assd: assd, hd95: assd.map { $0 * 2 }, hd: assd.map { $0 * 3 },
                    predictedVoxels: 10, referenceVoxels: 12)
    }

    /// Two volumes; volume "b" has an undefined ASSD for class Myo.
    private var volumes: [VolumeScores] {
        [VolumeScores(name: "a", classes: [scores(0.8, 1), scores(0.6, 2), scores(0.9, 0.5)]),
         VolumeScores(name: "b", classes: [scores(0.6, 3), scores(0, nil), scores(0.7, 1.5)])]
    }

    func testStatistic() {
        let s = Statistic([1, 2, nil, 4])
        XCTAssertEqual(s.count, 3)
        XCTAssertEqual(s.undefined, 1)
        XCTAssertEqual(s.mean!, 7.0 / 3, accuracy: 1e-15)
        let m = 7.0 / 3
        XCTAssertEqual(s.std!, (((1 - m) * (1 - m) + (2 - m) * (2 - m) + (4 - m) * (4 - m)) / 3).squareRoot(),
                       accuracy: 1e-15)
        XCTAssertEqual(Statistic([5]), Statistic([5.0]))
        XCTAssertEqual(Statistic([5]).std, 0)
        let none = Statistic([nil, nil])
        XCTAssertNil(none.mean)
        XCTAssertNil(none.std)
        XCTAssertEqual(none.undefined, 2)
    }

    func testSummaryOverVolumes() {
        let s = ScoreSummary(volumes: volumes, classNames: ClassNames.acdc, mode: .standard)
        XCTAssertEqual(s.samples, 2)
        XCTAssertEqual(s.level, .volumes)
        XCTAssertEqual(s.distanceUnit, "mm")
        XCTAssertEqual(s.classes.map(\.name), ["RV", "Myo", "LV"])
        XCTAssertEqual(s.classes[0].dice.mean!, 0.7, accuracy: 1e-15)
        XCTAssertEqual(s.classes[0].dice.std!, 0.1, accuracy: 1e-15)
        XCTAssertEqual(s.classes[1].assd.mean, 2)
        XCTAssertEqual(s.classes[1].assd.count, 1)
        XCTAssertEqual(s.classes[1].assd.undefined, 1)
        XCTAssertEqual(s.classes[1].hd95.mean, 4)
        // Avg: per-volume class averages; volume b's ASSD average is undefined.
        XCTAssertEqual(s.average.name, "Avg")
        XCTAssertEqual(s.average.dice.mean!, ((0.8 + 0.6 + 0.9) / 3 + (0.6 + 0 + 0.7) / 3) / 2, accuracy: 1e-15)
        XCTAssertEqual(s.average.assd.mean!, 3.5 / 3, accuracy: 1e-15)
        XCTAssertEqual(s.average.assd.undefined, 1)
        XCTAssertEqual(s.columns.map(\.name), ["RV", "Myo", "LV", "Avg"])
    }

    func testSummaryOverSeedsUsesPerSeedMeans() {
        let runs = [0.0, 0.1, 0.3].map { offset in
            ScoreSummary(volumes: volumes.map { v in
                VolumeScores(name: v.name,
                             classes: v.classes.map { scores($0.dice - offset, $0.assd.map { $0 + offset }) })
            }, classNames: ClassNames.acdc, mode: .standard)
        }
        let s = ScoreSummary(seeds: runs)
        XCTAssertEqual(s.level, .seeds)
        XCTAssertEqual(s.samples, 3)
        // RV Dice per seed: 0.7, 0.6, 0.4.
        XCTAssertEqual(s.classes[0].dice.mean!, 1.7 / 3, accuracy: 1e-15)
        let m = 1.7 / 3
        let std = (((0.7 - m) * (0.7 - m) + (0.6 - m) * (0.6 - m) + (0.4 - m) * (0.4 - m)) / 3).squareRoot()
        XCTAssertEqual(s.classes[0].dice.std!, std, accuracy: 1e-15)
        XCTAssertEqual(s.classes[0].dice.count, 3)
        // Avg per seed is that seed's Avg mean.
        let perSeed = runs.map { $0.average.dice.mean! }
        XCTAssertEqual(s.average.dice.mean!, perSeed.reduce(0, +) / 3, accuracy: 1e-15)
        XCTAssertEqual(s.classes[1].assd.undefined, 0, "each seed has a defined Myo ASSD mean")
    }

    func testCSV() {
        let csv = ScoreCSV.perVolume([volumes[1]], classNames: ClassNames.acdc)
        let lines = csv.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines[0], "volume,class,dice,assd,hd95,hd,predicted_voxels,reference_voxels")
        XCTAssertEqual(lines[1], "b,RV,0.6,3.0,6.0,9.0,10,12")
        XCTAssertEqual(lines[2], "b,Myo,0.0,,,,10,12")
        XCTAssertEqual(lines.count, 4)
        let quoted = ScoreCSV.perVolume([VolumeScores(name: "x,\"y\"", classes: [scores(1, 0)])], classNames: ["A"])
        XCTAssertTrue(quoted.contains("\n\"x,\"\"y\"\"\",A,1.0,0.0,0.0,0.0,10,12\n"), quoted)
    }

    func testJSONRoundTrip() throws {
        let summary = ScoreSummary(volumes: volumes, classNames: ClassNames.acdc, mode: .reference)
        let data = try JSONEncoder().encode(summary)
        XCTAssertEqual(try JSONDecoder().decode(ScoreSummary.self, from: data), summary)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertEqual(object["distanceUnit"] as? String, "voxels")
        XCTAssertEqual(object["mode"] as? String, "reference")
        let v = try JSONDecoder().decode([VolumeScores].self, from: try JSONEncoder().encode(volumes))
        XCTAssertEqual(v, volumes)
    }

    func testTableLayout() {
        let a = ScoreSummary(volumes: volumes, classNames: ClassNames.acdc, mode: .standard)
        let b = ScoreSummary(volumes: [volumes[0]], classNames: ClassNames.acdc, mode: .standard)
        let rows: [ResultsTable.Row] = [.init(label: "AutoSAM vit_b", summary: a), .init(label: "CNN", summary: b)]
        let text = ResultsTable(rows: rows).render()
        let lines = text.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 6, text)
        XCTAssertTrue(lines[0].hasPrefix("Method        | Dice"), text)
        XCTAssertTrue(lines[0].contains("| ASSD (mm)"), text)
        XCTAssertEqual(lines[1].split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) },
                       ["", "RV", "Myo", "LV", "Avg", "RV", "Myo", "LV", "Avg"])
        let cells = lines[3].split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
        XCTAssertEqual(cells, ["AutoSAM vit_b", "0.700 ± 0.100", "0.300 ± 0.300", "0.800 ± 0.100", "0.600 ± 0.167",
                               "2.00 ± 1.00", "2.00 ± 0.00*", "1.00 ± 0.50", "1.17 ± 0.00*"])
        XCTAssertTrue(lines[5].hasPrefix("* some values undefined"), text)
        // Every row puts its column separators at the same places.
        let bars = { (s: String) in s.indices.filter { s[$0] == "|" }.map { s.distance(from: s.startIndex, to: $0) } }
        XCTAssertEqual(Set([lines[1], lines[3], lines[4]].map(bars)).count, 1, text)
        XCTAssertEqual(ResultsTable(rows: []).render(), "(no results)\n")
    }
}
