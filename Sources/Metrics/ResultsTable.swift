import Foundation

/// A plain-text table shaped like the paper's Table 1: one row per method or config, and for each
/// metric one column per class plus the class average, cells `mean ± std`.
///
///     Method  | Dice                                  | ASSD (mm)
///             | RV     | Myo    | LV     | Avg        | RV   | ...
///     --------+--------+...
///     AutoSAM | 0.812 ± 0.010 | ...
///
/// Dice is printed with 3 decimals, distances with 2. A cell whose statistic left out undefined
/// values carries a `*` (explained under the table); an all-undefined cell reads `n/a`.
public struct ResultsTable: Sendable {
    public struct Row: Sendable {
        public var label: String
        public var summary: ScoreSummary

        public init(label: String, summary: ScoreSummary) {
            self.label = label
            self.summary = summary
        }
    }

    public var rows: [Row]
    public var metrics: [Metric]
    /// Title of the first column.
    public var heading: String

    public init(rows: [Row], metrics: [Metric] = [.dice, .assd], heading: String = "Method") {
        precondition(!metrics.isEmpty, "a table needs at least one metric")
        self.rows = rows
        self.metrics = metrics
        self.heading = heading
    }

    /// The table's cells, before any layout: what `render()` lays out as text and the HTML report
    /// as a table.
    public struct Grid: Sendable {
        /// One title per metric block, e.g. "Dice", "ASSD (mm)".
        public var blocks: [String]
        /// The class names under each block, block after block.
        public var subheads: [String]
        /// Per row: its label and its cells (`mean ± std`, `*` when some values are undefined, `n/a`).
        public var rows: [(label: String, cells: [String])]
        /// Lines under the table (the undefined-values key when a cell has `*`).
        public var notes: [String]
    }

    /// The cells of the table; nil without rows.
    public var grid: Grid? {
        guard let first = rows.first?.summary else { return nil }
        let names = first.columns.map(\.name)
        precondition(rows.allSatisfy { $0.summary.columns.map(\.name) == names }, "rows differ in classes")
        let cells = rows.map { row in metrics.flatMap { m in row.summary.columns.map { cell($0[m], m) } } }
        let undefined = cells.contains { $0.contains { $0.hasSuffix("*") } }
        return Grid(blocks: metrics.map { m in m == .dice ? m.title : "\(m.title) (\(first.distanceUnit))" },
                    subheads: metrics.flatMap { _ in names },
                    rows: zip(rows, cells).map { ($0.label, $1) },
                    notes: undefined ? ["* some values undefined (exactly one mask empty): left out of mean and std"]
                        : [])
    }

    public func render() -> String {
        guard let grid else { return "(no results)\n" }
        let (blocks, subheads, cells) = (grid.blocks, grid.subheads, grid.rows.map(\.cells))
        let perBlock = subheads.count / blocks.count
        var widths = subheads.indices.map { j in max(subheads[j].count, cells.map { $0[j].count }.max() ?? 0) }
        // Widen each metric's last column so its block title fits.
        for (b, title) in blocks.enumerated() {
            let range = (b * perBlock)..<((b + 1) * perBlock)
            let span = range.map { widths[$0] }.reduce(0, +) + 3 * (perBlock - 1)
            if title.count > span { widths[range.upperBound - 1] += title.count - span }
        }
        let labelWidth = max(heading.count, rows.map(\.label.count).max() ?? 0)
        var blockCells: [String] = []
        for (b, title) in blocks.enumerated() {
            let span = widths[(b * perBlock)..<((b + 1) * perBlock)].reduce(0, +) + 3 * (perBlock - 1)
            blockCells.append(pad(title, span))
        }
        var lines = [line(pad(heading, labelWidth), blockCells),
                     line(pad("", labelWidth), subheads.indices.map { pad(subheads[$0], widths[$0]) }),
                     ([String(repeating: "-", count: labelWidth)] + widths.map { String(repeating: "-", count: $0) })
                        .joined(separator: "-+-")]
        for (label, values) in grid.rows {
            lines.append(line(pad(label, labelWidth), values.indices.map { pad(values[$0], widths[$0]) }))
        }
        lines += grid.notes
        return lines.map { $0.replacingTrailingSpaces() }.joined(separator: "\n") + "\n"
    }

    private func cell(_ s: Statistic, _ metric: Metric) -> String {
        guard let mean = s.mean, let std = s.std else { return "n/a" }
        let digits = metric == .dice ? 3 : 2
        let text = String(format: "%.\(digits)f ± %.\(digits)f", mean, std)
        return s.undefined > 0 ? text + "*" : text
    }

    private func line(_ label: String, _ cells: [String]) -> String {
        ([label] + cells).joined(separator: " | ")
    }

    private func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
    }
}

private extension String {
    func replacingTrailingSpaces() -> String {
        var s = self
        while s.last == " " { s.removeLast() }
        return s
    }
}
