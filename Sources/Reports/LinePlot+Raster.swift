import Foundation

extension LinePlot {
    /// The plot as a PNG: the same frame, axes, tick marks and numeric tick labels (a built-in
    /// 3 x 5 pixel font), series lines and error bars as the SVG; no title, axis names or legend
    /// text (they are in the report's caption).
    public func png() throws -> Data {
        let f = PlotFrame(x: xAxis, y: yAxis)
        var canvas = Canvas(width: PlotFrame.width, height: PlotFrame.height)
        let ink = RGB(51, 51, 51), grid = RGB(227, 227, 227)
        let (x0, x1) = (PlotFrame.left, PlotFrame.left + f.plotWidth)
        let (y0, y1) = (PlotFrame.top + f.plotHeight, PlotFrame.top)
        for t in f.y.ticks {
            let y = f.py(t)
            canvas.line(x0, y, x1, y, grid)
            let label = f.y.label(t)
            canvas.text(label, x: Int(x0) - 6 - Canvas.textWidth(label), y: Int(y.rounded()) - 5, ink)
        }
        for t in f.x.ticks {
            let x = f.px(t)
            canvas.line(x, y0, x, y0 + 5, ink)
            let label = f.x.label(t)
            canvas.text(label, x: Int(x.rounded()) - Canvas.textWidth(label) / 2, y: Int(y0) + 10, ink)
        }
        canvas.line(x0, y1, x0, y0, ink)
        canvas.line(x0, y0, x1, y0, ink)
        for s in series {
            let v = f.vertices(s)
            for i in v.indices.dropFirst() {
                canvas.line(v[i - 1].0, v[i - 1].1, v[i].0, v[i].1, s.colour, thickness: 2)
            }
            if v.count == 1 { canvas.fill(x: Int(v[0].0) - 2, y: Int(v[0].1) - 2, width: 5, height: 5, s.colour) }
            for (i, p) in s.points.enumerated() {
                guard let e = s.errors?[i], e > 0 else { continue }
                let (x, lo, hi) = (f.px(p.x), f.py(p.y - e), f.py(p.y + e))
                canvas.line(x, lo, x, hi, s.colour)
                canvas.line(x - 4, lo, x + 4, lo, s.colour)
                canvas.line(x - 4, hi, x + 4, hi, s.colour)
            }
        }
        return try canvas.png()
    }
}
