import Foundation
import TensorFiles

/// A self-contained HTML report of one run or a set of runs (`autosam report`): one file with
/// every figure inline (SVG, or PNG as base64 data URIs) and nothing fetched from elsewhere, plus
/// PNG copies of the figures in a folder next to it for papers and slides.
public struct Report {
    public let html: String
    public let figures: [ReportFigure]
    /// Folder of the PNG copies, relative to the HTML file.
    public let figureFolder: String

    /// The run folders named by the arguments: a folder with `summary.json` is a run; a folder
    /// without one whose subfolders hold runs (a suite's output) stands for those, by name.
    public static func runFolders(_ arguments: [URL]) throws -> [URL] {
        let fm = FileManager.default
        func isRun(_ url: URL) -> Bool { fm.fileExists(atPath: url.appendingPathComponent("summary.json").path) }
        return try arguments.flatMap { url -> [URL] in
            if isRun(url) { return [url] }
            var isFolder: ObjCBool = false
            guard fm.fileExists(atPath: url.path, isDirectory: &isFolder), isFolder.boolValue else {
                throw ReportError(path: url.path, message: "no such run folder")
            }
            let children = (try? fm.contentsOfDirectory(at: url, includingPropertiesForKeys: nil)) ?? []
            let runs = children.filter(isRun).sorted { $0.lastPathComponent < $1.lastPathComponent }
            guard !runs.isEmpty else {
                throw ReportError(path: url.appendingPathComponent("summary.json").path,
                                  message: "missing, and no subfolder holds a finished run: not a run folder of "
                                  + "`autosam train` (or it has not finished testing yet)")
            }
            return runs
        }
    }

    /// `<argument>/report.html` for one argument (a run or a suite folder), else `report.html`
    /// in the folder holding the first argument.
    public static func defaultOutput(for arguments: [URL]) -> URL {
        arguments.count == 1 ? arguments[0].appendingPathComponent("report.html")
            : arguments[0].deletingLastPathComponent().appendingPathComponent("report.html")
    }

    /// Reads every run and renders the report; any missing or damaged input is an error naming
    /// the file, before anything is written.
    public static func build(runs folders: [URL], options: ReportOptions = ReportOptions()) throws -> Report {
        let runs = try folders.map(ReportRun.load)
        let labels = runs.map(\.label)
        if let twice = labels.first(where: { l in labels.filter { $0 == l }.count > 1 }) {
            throw ReportError(path: twice, message: "two run folders share this name; report them separately")
        }
        var sections: [ReportSection] = []
        if runs.count > 1 { sections.append(try SuiteReport.section(runs, options: options)) }
        for run in runs { sections.append(try RunReport.section(run, options: options)) }
        let title = runs.count == 1 ? "AutoSAM run \(runs[0].label)" : "AutoSAM runs: \(labels.joined(separator: ", "))"
        let stamp = ISO8601DateFormatter().string(from: Date())
        let contents = runs.map { "<a href=\"#run-\(HTML.escape($0.label))\">\(HTML.escape($0.label))</a>" }
        let head = ["<h1>\(HTML.escape(title))</h1>",
                    "<p class=\"note\">Made by <code>autosam report</code> on \(stamp) from "
                    + "\(runs.count) run folder(s): \(contents.joined(separator: ", ")). Figures are inline; "
                    + "PNG copies are in <code>\(HTML.escape(options.figureFolder))/</code>.</p>"]
        return Report(html: HTML.page(title: title, body: head + sections.flatMap(\.html)),
                      figures: sections.flatMap(\.figures), figureFolder: options.figureFolder)
    }

    /// The figure folder name for a report written to `url`: `<name>_files`.
    public static func figureFolder(for url: URL) -> String {
        url.deletingPathExtension().lastPathComponent + "_files"
    }

    /// Writes the PNG copies, then the HTML, each atomically (a reader never sees a partial file).
    public func write(to url: URL) throws {
        let folder = url.deletingLastPathComponent().appendingPathComponent(figureFolder)
        do { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) } catch {
            throw ReportError(path: folder.path,
                              message: "cannot create the figure folder (\(error.localizedDescription))")
        }
        for figure in figures { try AtomicFile.write(figure.png, to: folder.appendingPathComponent(figure.file)) }
        try AtomicFile.write(Data(html.utf8), to: url)
    }
}
