import ArgumentParser
import Foundation
import Reports

/// `autosam report RUN... [--out FILE]`: one self-contained HTML file of finished runs.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write a self-contained HTML report of finished runs (results, curves, drawn test volumes).",
        discussion: """
        Each RUN is an output folder of `autosam train`, or a folder of such run folders (a suite's runs). \
        One run gives RUN/report.html by default; several runs give one combined report with a comparison \
        (Table 1 rows and mean Dice against data.train_size, one line per method). The HTML holds every figure \
        inline and references nothing outside itself; PNG copies of the figures go to <name>_files/ next to it. \
        Drawing test volumes reads the run's images from data.root (relative paths: from the working directory \
        or the folder train ran in); --no-overlays leaves them out. Open the file in any browser.
        """
    )

    @Argument(help: "Run folders of `autosam train` (or folders holding run folders).")
    var runs: [String]

    @Option(name: .shortAndLong, help: "The HTML file to write (default: RUN/report.html for one argument).")
    var out: String?

    @Option(help: "Metrics of the results tables, comma separated: dice, assd, hd95, hd.")
    var metrics: String = "dice,assd"

    @Flag(help: "Leave out the drawings of test volumes (when the run's images are not at hand).")
    var noOverlays = false

    func validate() throws {
        if runs.isEmpty { throw ValidationError("name at least one run folder") }
        if let out, !out.hasSuffix(".html") { throw ValidationError("--out must name an .html file, got '\(out)'") }
    }

    func run() throws {
        let arguments = runs.map { URL(fileURLWithPath: $0) }
        let folders = try Report.runFolders(arguments)
        let output = out.map { URL(fileURLWithPath: $0) } ?? Report.defaultOutput(for: arguments)
        let options = ReportOptions(metrics: try TableMetrics.parse(metrics), overlays: !noOverlays,
                                    figureFolder: Report.figureFolder(for: output))
        let report = try Report.build(runs: folders, options: options)
        try report.write(to: output)
        print("report of \(folders.count) run(s): \(output.path)")
        let figures = output.deletingLastPathComponent().appendingPathComponent(report.figureFolder)
        print("\(report.figures.count) PNG figure(s) in \(figures.path)")
    }
}
