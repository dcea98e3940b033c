import Config
import Evaluation
import Foundation
import Metrics

/// A PNG copy of one figure, written next to the HTML (`<report>_files/<file>`).
public struct ReportFigure: Equatable {
    public let file: String
    public let png: Data
}

/// What the report shows, from the command line.
public struct ReportOptions {
    /// Metrics of the results tables (Dice and ASSD, as `train` prints).
    public var metrics: [Metric]
    /// Draw test volumes with their contours (needs the run's images under `data.root`).
    public var overlays: Bool
    /// Folder of the PNG copies, relative to the HTML file (used in the links).
    public var figureFolder: String

    public init(metrics: [Metric] = [.dice, .assd], overlays: Bool = true, figureFolder: String = "report_files") {
        (self.metrics, self.overlays, self.figureFolder) = (metrics, overlays, figureFolder)
    }
}

/// The HTML of one part of the report and the figures it holds.
struct ReportSection {
    var html: [String] = []
    var figures: [ReportFigure] = []

    /// A figure with its PNG copy: `body` is inline SVG or an `<img>`; the caption links the copy.
    mutating func figure(_ body: String, png: Data, file: String, caption: String, options: ReportOptions) {
        figures.append(ReportFigure(file: file, png: png))
        let link = "<a href=\"\(HTML.escape(options.figureFolder))/\(HTML.escape(file))\">PNG</a>"
        html.append("<figure>\(body)<figcaption>\(caption) (\(link))</figcaption></figure>")
    }
}

/// The report of one run: results, per-volume scores, learning curves, overlays, provenance.
enum RunReport {
    /// "3 training patient(s) (data.train_size)", or for train_size 0 all of the fold's (from the split).
    static func trainingPatients(_ run: ReportRun) -> String {
        let size = run.config.data.train_size
        guard size == 0 else { return "\(size) training patient(s) (data.train_size)" }
        let all = run.split.map { "\($0.train.count)" } ?? "all"
        return "\(all) training patient(s) (data.train_size 0: all of the fold's)"
    }

    static func section(_ run: ReportRun, options: ReportOptions) throws -> ReportSection {
        var s = ReportSection()
        let c = run.config
        s.html.append("<section id=\"run-\(HTML.escape(run.label))\">")
        s.html.append("<h2>Run \(HTML.escape(run.label))</h2>")
        s.html.append("<p>Config <b>\(HTML.escape(c.name))</b>: \(HTML.escape(Method.baseName(c))) "
                      + "(head.kind \(c.head.kind)), \(trainingPatients(run)), fold \(c.data.fold), "
                      + "seeds \(c.seeds.map(String.init).joined(separator: ", ")), "
                      + "folder <code>\(HTML.escape(run.folder.path))</code>.</p>")
        s.html.append("<h3>Results</h3>")
        s.html.append(run.summary.table(metrics: options.metrics).html(
            caption: "Test set: one row per seed, then mean ± std over seeds (summary.json)"))
        try ensemble(run, &s, options: options)
        volumeScores(run, &s)
        try overlays(run, &s, options)
        try curves(run, &s, options)
        provenance(run, &s)
        s.html.append("</section>")
        return s
    }

    /// Per-volume scores of each seed (`test_volumes.csv`), worst first, with the worst and best
    /// volumes named, and the same over seeds.
    static func volumeScores(_ run: ReportRun, _ s: inout ReportSection) {
        let names = run.config.classNames, unit = run.summary.overSeeds.distanceUnit
        s.html.append("<h3>Test volumes</h3>")
        let overall = VolumeRanking(seeds: run.seeds.map(\.volumes))
        if let worst = overall.worst, let best = overall.best {
            s.html.append("<p>Over seeds (mean Dice of the seeds' class means): worst volume <b class=\"worst\">"
                          + "\(HTML.escape(worst.name))</b> (\(dice(worst.meanDice))), best <b class=\"best\">"
                          + "\(HTML.escape(best.name))</b> (\(dice(best.meanDice))).</p>")
        }
        s.html.append("<div class=\"figures\">")
        for seed in run.seeds {
            let ranking = VolumeRanking(seed.volumes)
            let byName = Dictionary(seed.volumes.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            let rows = ranking.entries.map { e -> [String] in
                let v = byName[e.name]!
                return [e.name] + v.classes.map { dice($0.dice) } + [dice(e.meanDice), distance(v.average(.assd))]
            }
            let caption = "Seed \(seed.seed): worst \(ranking.worst?.name ?? "-"), best \(ranking.best?.name ?? "-") "
                + "(seed_\(seed.seed)/test_volumes.csv, sorted by mean Dice, worst first)"
            let header = ["volume"] + names.map { "Dice \($0)" } + ["mean Dice", "mean ASSD (\(unit))"]
            s.html.append(HTML.table(header: [header], rows: rows, caption: caption))
        }
        s.html.append("</div>")
    }

    static func dice(_ v: Double) -> String { String(format: "%.3f", v) }
    static func distance(_ v: Double?) -> String { v.map { String(format: "%.2f", $0) } ?? "n/a" }
}
