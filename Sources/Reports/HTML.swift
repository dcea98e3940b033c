import Foundation

/// Small builders for the report's HTML: escaping, tables, figures, the page shell. Everything
/// is inline (one `<style>`, no scripts, no external references).
enum HTML {
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    /// A table; cells are escaped text. `header` rows use `<th>`; columns from `numericFrom` on
    /// are right-aligned numbers.
    static func table(header: [[String]], rows: [[String]], caption: String? = nil, numericFrom: Int = 1) -> String {
        var out = ["<table>"]
        if let caption { out.append("<caption>\(escape(caption))</caption>") }
        if !header.isEmpty {
            out.append("<thead>")
            for row in header { out.append("<tr>" + row.map { "<th>\(escape($0))</th>" }.joined() + "</tr>") }
            out.append("</thead>")
        }
        out.append("<tbody>")
        for row in rows {
            out.append("<tr>" + row.enumerated().map { i, v in
                i >= numericFrom ? "<td class=\"num\">\(escape(v))</td>" : "<td>\(escape(v))</td>"
            }.joined() + "</tr>")
        }
        out.append("</tbody>\n</table>")
        return out.joined(separator: "\n")
    }

    /// Key-value rows.
    static func definitions(_ items: [(String, String)]) -> String {
        table(header: [], rows: items.map { [$0.0, $0.1] }, numericFrom: 2)
    }

    /// An `<img>` with the PNG embedded as a base64 data URI.
    static func image(_ png: Data, alt: String, width: Int? = nil) -> String {
        let size = width.map { " width=\"\($0)\"" } ?? ""
        return "<img src=\"data:image/png;base64,\(png.base64EncodedString())\" alt=\"\(escape(alt))\"\(size)>"
    }

    /// A pre-formatted block (config, split).
    static func pre(_ text: String) -> String { "<pre>\(escape(text))</pre>" }

    /// A note that something is absent, styled so it cannot be mistaken for a result.
    static func gap(_ text: String) -> String { "<p class=\"gap\">\(escape(text))</p>" }

    static func page(title: String, body: [String]) -> String {
        """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <title>\(escape(title))</title>
        <style>
        \(style)
        </style>
        </head>
        <body>
        \(body.joined(separator: "\n"))
        </body>
        </html>

        """
    }

    static let style = """
    body { font-family: sans-serif; margin: 2em auto; padding: 0 1.5em; max-width: 1500px; color: #222; }
    body { line-height: 1.4; }
    h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; } h3 { margin-top: 1.5em; }
    table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
    th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
    td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
    caption { text-align: left; font-weight: bold; padding: 4px 0; max-width: 560px; }
    pre { background: #f6f6f6; padding: 8px; overflow-x: auto; font-size: 0.85em; max-height: 24em; }
    .figures { display: flex; flex-wrap: wrap; gap: 12px; }
    figure { margin: 0; } figcaption { font-size: 0.85em; color: #444; max-width: 480px; }
    svg.plot text { font-family: sans-serif; } svg.plot text.tick { font-size: 11px; fill: #333; }
    svg.plot text.axis, svg.plot text.legend { font-size: 12px; }
    svg.plot text.title { font-size: 13px; font-weight: bold; }
    .gap { color: #a00; font-style: italic; } .note { color: #555; font-size: 0.9em; }
    .swatch { display: inline-block; width: 12px; height: 12px; margin: 0 4px 0 12px; vertical-align: middle; }
    img { border: 1px solid #ccc; max-width: 440px; height: auto; }
    """
}
