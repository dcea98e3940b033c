import Foundation

extension LinePlot {
    /// The plot as an inline SVG element (no external references): axes with ticks and labels, a
    /// legend, and one `<polyline data-series="key">` per series with one vertex per point (a
    /// step series: two per change of value).
    public func svg() -> String {
        let f = PlotFrame(x: xAxis, y: yAxis)
        let (w, h) = (PlotFrame.width, PlotFrame.height)
        var out = ["<svg class=\"plot\" width=\"\(w)\" height=\"\(h)\" viewBox=\"0 0 \(w) \(h)\" role=\"img\" "
                   + "aria-label=\"\(HTML.escape(title))\">",
                   "<title>\(HTML.escape(title))</title>",
                   "<rect x=\"0\" y=\"0\" width=\"\(w)\" height=\"\(h)\" fill=\"#ffffff\"/>"]
        let (x0, x1) = (PlotFrame.left, PlotFrame.left + f.plotWidth)
        let (y0, y1) = (PlotFrame.top + f.plotHeight, PlotFrame.top)
        for t in f.y.ticks {
            let y = n(f.py(t))
            out.append("<line x1=\"\(n(x0))\" y1=\"\(y)\" x2=\"\(n(x1))\" y2=\"\(y)\" stroke=\"#e3e3e3\"/>")
            out.append("<text class=\"tick\" x=\"\(n(x0 - 6))\" y=\"\(y)\" text-anchor=\"end\" "
                       + "dominant-baseline=\"middle\">\(f.y.label(t))</text>")
        }
        for t in f.x.ticks {
            let x = n(f.px(t))
            out.append("<line x1=\"\(x)\" y1=\"\(n(y0))\" x2=\"\(x)\" y2=\"\(n(y0 + 5))\" stroke=\"#333333\"/>")
            out.append("<text class=\"tick\" x=\"\(x)\" y=\"\(n(y0 + 18))\" text-anchor=\"middle\">"
                       + "\(f.x.label(t))</text>")
        }
        out.append("<path d=\"M\(n(x0)) \(n(y1)) V\(n(y0)) H\(n(x1))\" fill=\"none\" stroke=\"#333333\"/>")
        out.append("<text class=\"axis\" x=\"\(n((x0 + x1) / 2))\" y=\"\(h - 8)\" text-anchor=\"middle\">"
                   + "\(HTML.escape(xLabel))</text>")
        out.append("<text class=\"axis\" transform=\"translate(16 \(n((y0 + y1) / 2))) rotate(-90)\" "
                   + "text-anchor=\"middle\">\(HTML.escape(yLabel))</text>")
        out.append("<text class=\"title\" x=\"\(n(x0))\" y=\"18\">\(HTML.escape(title))</text>")
        for s in series { out += seriesElements(s, f) }
        out += legend(x: x1 - 8, y: y1 + 6)
        out.append("</svg>")
        return out.joined(separator: "\n")
    }

    private func seriesElements(_ s: LinePlot.Series, _ f: PlotFrame) -> [String] {
        let colour = s.colour.hex
        let points = f.vertices(s).map { "\(n($0.0)),\(n($0.1))" }.joined(separator: " ")
        var out = ["<polyline class=\"series\" data-series=\"\(HTML.escape(s.key))\" fill=\"none\" "
                   + "stroke=\"\(colour)\" stroke-width=\"1.8\" points=\"\(points)\"/>"]
        if s.points.count <= 20 {
            out += s.points.map {
                "<circle cx=\"\(n(f.px($0.x)))\" cy=\"\(n(f.py($0.y)))\" r=\"3\" fill=\"\(colour)\"/>"
            }
        }
        for (i, p) in s.points.enumerated() {
            guard let e = s.errors?[i], e > 0 else { continue }
            let (x, lo, hi) = (f.px(p.x), f.py(p.y - e), f.py(p.y + e))
            out.append("<path d=\"M\(n(x)) \(n(lo)) V\(n(hi)) M\(n(x - 4)) \(n(lo)) H\(n(x + 4)) "
                       + "M\(n(x - 4)) \(n(hi)) H\(n(x + 4))\" stroke=\"\(colour)\" fill=\"none\"/>")
        }
        return out
    }

    /// Legend entries right-aligned at (`x`, `y`), one per series, top to bottom.
    private func legend(x: Double, y: Double) -> [String] {
        guard series.count > 1 else { return [] }
        return series.enumerated().flatMap { i, s -> [String] in
            let yy = y + 8 + Double(i) * 15
            return ["<line x1=\"\(n(x - 16))\" y1=\"\(n(yy))\" x2=\"\(n(x))\" y2=\"\(n(yy))\" "
                    + "stroke=\"\(s.colour.hex)\" stroke-width=\"2\"/>",
                    "<text class=\"legend\" x=\"\(n(x - 20))\" y=\"\(n(yy))\" text-anchor=\"end\" "
                    + "dominant-baseline=\"middle\">\(HTML.escape(s.name))</text>"]
        }
    }

    private func n(_ v: Double) -> String { String(format: "%.1f", v) }
}
