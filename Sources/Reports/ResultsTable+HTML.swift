import Foundation
import Metrics

extension ResultsTable {
    /// The table as HTML with exactly the cells of `render()` (the terminal's Table 1: `mean ±
    /// std`, 3 decimals for Dice and 2 for distances, `*` and `n/a` for undefined values, and the
    /// footnote explaining them): both come from `grid`, so the report and `train`'s printout
    /// cannot disagree.
    func html(caption: String? = nil) -> String {
        guard let grid else { return HTML.gap("no results") }
        let columns = grid.subheads.count / grid.blocks.count
        var out = ["<table class=\"results\">"]
        if let caption { out.append("<caption>\(HTML.escape(caption))</caption>") }
        out.append("<thead><tr><th rowspan=\"2\">\(HTML.escape(heading))</th>"
                   + grid.blocks.map { "<th colspan=\"\(columns)\">\(HTML.escape($0))</th>" }.joined() + "</tr>")
        out.append("<tr>" + grid.subheads.map { "<th>\(HTML.escape($0))</th>" }.joined() + "</tr></thead>\n<tbody>")
        for (label, cells) in grid.rows {
            out.append("<tr><td>\(HTML.escape(label))</td>"
                       + cells.map { "<td class=\"num\">\(HTML.escape($0))</td>" }.joined() + "</tr>")
        }
        out.append("</tbody>\n</table>")
        out += grid.notes.map { "<p class=\"note\">\(HTML.escape($0))</p>" }
        return out.joined(separator: "\n")
    }
}
