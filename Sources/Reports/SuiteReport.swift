import Evaluation
import Foundation

/// The part of a combined report that compares its runs: the Table 1 comparison (one row per
/// run), mean Dice against the number of labelled training patients with one line per method
/// (the paper's Figure 5), and the same numbers as a table.
enum SuiteReport {
    struct Point {
        let method: String
        let trainSize: Int
        let mean: Double
        let std: Double
        let seeds: Int
    }

    static func section(_ runs: [ReportRun], options: ReportOptions) throws -> ReportSection {
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
        let methods = points.map(\.method).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        let series = methods.enumerated().map { i, m -> LinePlot.Series in
            let mine = points.filter { $0.method == m }.sorted { $0.trainSize < $1.trainSize }
            return LinePlot.Series(name: m, key: m, colour: RGB.cycling(RGB.series, i),
                                   points: mine.map { (Double($0.trainSize), $0.mean) }, errors: mine.map(\.std))
        }
        let plot = LinePlot(title: "Mean test Dice against labelled training patients", xLabel: "labelled "
                            + "training patients (data.train_size)", yLabel: "mean Dice over classes",
                            series: series, yRange: 0...1, xPadding: 0.1)
        s.figure(plot.svg(), png: try plot.png(), file: "comparison_dice_vs_training_patients.png",
                 caption: "One line per method; error bars: std over seeds of the per-seed mean Dice "
                 + "(Figure 5 of the paper). Colours in order: "
                 + methods.map(HTML.escape).joined(separator: ", ") + ".", options: options)
        let sizes = Array(Set(points.map(\.trainSize))).sorted()
        let rows = methods.map { m in
            [m] + sizes.map { n in
                points.first { $0.method == m && $0.trainSize == n }
                    .map { String(format: "%.3f ± %.3f (%d seeds)", $0.mean, $0.std, $0.seeds) } ?? "-"
            }
        }
        s.html.append(HTML.table(header: [["method"] + sizes.map { "\($0) training patient(s)" }], rows: rows,
                                 caption: "Mean Dice over classes, mean ± std over seeds"))
        s.html.append("</section>")
        return s
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
