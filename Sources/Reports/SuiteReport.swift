import Evaluation
import Foundation

/// The part of a combined report that compares its runs: the Table 1 comparison (one row per
/// run), mean Dice against the number of labelled training patients with one line per method
/// (the paper's Figure 5; left out when every run has the same train size), and the same numbers
/// as a method x train-size table (Tables 2 and 3 when methods differ by head depth or encoder).
enum SuiteReport {
    struct Point {
        let method: String
        let trainSize: Int
        let mean: Double
        let std: Double
        let seeds: Int
    }

    static func section(_ runs: [ReportRun], options: ReportOptions) throws -> ReportSection {
        let runs = Method.ordered(runs, by: \.config)
        var s = ReportSection()
        s.html.append("<section id=\"comparison\">\n<h2>Comparison of the \(runs.count) runs</h2>")
        s.html.append(RunSummary.comparison(runs.map(\.summary), metrics: options.metrics).html(
            caption: "Test set, one row per run: mean ± std over its seeds (Table 1 layout)"))
        let points = self.points(runs)
        guard !points.isEmpty else {
            s.html.append(HTML.gap("No run has a defined mean Dice: nothing to plot."))
            s.html.append("</section>")
            return s
        }
        let lines = self.lines(points)
        let sizes = Array(Set(points.map(\.trainSize))).sorted()
        if sizes.count > 1 {
            try figure(lines, into: &s, options: options)
        } else {
            s.html.append(HTML.gap("Every run trained on \(sizes[0]) labelled patient(s): no curve to draw; "
                                   + "the methods side by side are in the table below."))
        }
        let rows = lines.map { line in
            [line.method] + sizes.map { n in
                line.points.first { $0.trainSize == n }
                    .map { String(format: "%.3f ± %.3f (%d seeds)", $0.mean, $0.std, $0.seeds) } ?? "-"
            }
        }
        s.html.append(HTML.table(header: [["method"] + sizes.map { "\($0) training patient(s)" }], rows: rows,
                                 caption: "Mean Dice over classes, mean ± std over seeds"))
        s.html.append("</section>")
        return s
    }

    /// Figure 5: one line per method, colours in the order of `lines`.
    static func figure(_ lines: [(method: String, points: [Point])], into s: inout ReportSection,
                       options: ReportOptions) throws {
        let series = lines.enumerated().map { i, line -> LinePlot.Series in
            LinePlot.Series(name: line.method, key: line.method, colour: RGB.cycling(RGB.series, i),
                            points: line.points.map { (Double($0.trainSize), $0.mean) }, errors: line.points.map(\.std))
        }
        let plot = LinePlot(title: "Mean test Dice against labelled training patients", xLabel: "labelled "
                            + "training patients (data.train_size)", yLabel: "mean Dice over classes",
                            series: series, yRange: 0...1, xPadding: 0.1)
        s.figure(plot.svg(), png: try plot.png(), file: "comparison_dice_vs_training_patients.png",
                 caption: "One line per method; error bars: std over seeds of the per-seed mean Dice "
                 + "(Figure 5 of the paper). Colours in order: "
                 + lines.map { HTML.escape($0.method) }.joined(separator: ", ") + ".", options: options)
    }

    /// The points grouped by method, methods in order of first appearance (`section` orders the
    /// runs by `Method.ordered`), each line's points in increasing train size.
    static func lines(_ points: [Point]) -> [(method: String, points: [Point])] {
        let methods = points.map(\.method).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        return methods.map { m in (m, points.filter { $0.method == m }.sorted { $0.trainSize < $1.trainSize }) }
    }

    /// One point per run with a defined mean Dice; train_size 0 (all) counts the fold's patients.
    static func points(_ runs: [ReportRun]) -> [Point] {
        let labels = Method.labels(runs.map(\.config))
        return zip(runs, labels).compactMap { run, label in
            let dice = run.summary.overSeeds.average.dice
            guard let mean = dice.mean, let std = dice.std else { return nil }
            let size = run.config.data.train_size == 0 ? run.split?.train.count ?? 0 : run.config.data.train_size
            return Point(method: label, trainSize: size, mean: mean, std: std, seeds: run.summary.seeds.count)
        }
    }
}
