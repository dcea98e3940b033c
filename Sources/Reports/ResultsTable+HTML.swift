import Foundation
import Metrics

extension ResultsTable {
    /// The table as HTML with exactly the cells of `render()` (the terminal's Table 1: `mean ±
    /// std`, 3 decimals for Dice and 2 for distances, `*` and `n/a` for undefined values, and the
    /// footnote explaining them), so the report and `train`'s printout cannot disagree.
    func html(caption: String? = nil) -> String {
        let lines = render().split(separator: "\n").map(String.init)
        guard let first = rows.first, lines.count >= 3 + rows.count else {
            return HTML.gap("no results")
        }
        let columns = first.summary.columns.count
        let cellCount = metrics.count * columns
        /// A rendered line's cells: the label (which may itself hold " | ") and `count` values.
        func split(_ line: String, _ count: Int) -> (String, [String]) {
            let fields = line.components(separatedBy: " | ")
            let label = fields.dropLast(count).joined(separator: " | ")
            return (label.trimmingCharacters(in: .whitespaces),
                    fields.suffix(count).map { $0.trimmingCharacters(in: .whitespaces) })
        }
        let (heading, blocks) = split(lines[0], metrics.count)
        let (_, subheads) = split(lines[1], cellCount)
        var out = ["<table class=\"results\">"]
        if let caption { out.append("<caption>\(HTML.escape(caption))</caption>") }
        out.append("<thead><tr><th rowspan=\"2\">\(HTML.escape(heading))</th>"
                   + blocks.map { "<th colspan=\"\(columns)\">\(HTML.escape($0))</th>" }.joined() + "</tr>")
        out.append("<tr>" + subheads.map { "<th>\(HTML.escape($0))</th>" }.joined() + "</tr></thead>\n<tbody>")
        for line in lines[3 ..< 3 + rows.count] {
            let (label, cells) = split(line, cellCount)
            out.append("<tr><td>\(HTML.escape(label))</td>"
                       + cells.map { "<td class=\"num\">\(HTML.escape($0))</td>" }.joined() + "</tr>")
        }
        out.append("</tbody>\n</table>")
        out += lines.dropFirst(3 + rows.count).map { "<p class=\"note\">\(HTML.escape($0))</p>" }
        return out.joined(separator: "\n")
    }
}
