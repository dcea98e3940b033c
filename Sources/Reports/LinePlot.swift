import Foundation

/// An sRGB colour.
public struct RGB: Equatable, Sendable {
    public let r: UInt8, g: UInt8, b: UInt8
    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) { (self.r, self.g, self.b) = (r, g, b) }
    /// `#rrggbb`.
    public var hex: String { String(format: "#%02x%02x%02x", r, g, b) }

    /// Line colours of plots (Okabe-Ito, distinguishable with colour blindness).
    public static let series = [RGB(0, 114, 178), RGB(213, 94, 0), RGB(0, 158, 115), RGB(204, 121, 167),
                                RGB(230, 159, 0), RGB(86, 180, 233), RGB(0, 0, 0)]
    /// Contour colours of the class labels 1, 2, 3, ... on a grey image.
    public static let classes = [RGB(255, 60, 60), RGB(60, 230, 60), RGB(70, 150, 255), RGB(255, 230, 0),
                                 RGB(255, 0, 255), RGB(0, 240, 240), RGB(255, 150, 0)]
    static func cycling(_ list: [RGB], _ i: Int) -> RGB { list[i % list.count] }
}

/// A 2D line plot (learning curves, Dice against training volumes): the data and its axes,
/// drawn as inline SVG (`svg()`) or rasterised to a PNG (`png()`) from the same frame.
public struct LinePlot {
    /// `line` joins the points; `step` holds each value until the next point (learning rates).
    public enum Style { case line, step }

    /// One named line of the plot in one colour.
    public struct Series {
        public var name: String
        public var colour: RGB
        public var points: [(x: Double, y: Double)]
        /// Half-lengths of vertical error bars, one per point (nil: none).
        public var errors: [Double]?
        public var style: Style
        /// Key of the series in the SVG (`data-series`), for tools and tests.
        public var key: String

        public init(name: String, key: String, colour: RGB, points: [(x: Double, y: Double)],
                    errors: [Double]? = nil, style: Style = .line) {
            precondition(errors.map { $0.count == points.count } ?? true, "one error bar per point")
            (self.name, self.key, self.colour, self.points) = (name, key, colour, points)
            (self.errors, self.style) = (errors, style)
        }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [Series]
    /// Forced y range (Dice: 0...1); nil: from the data, including 0.
    public var yRange: ClosedRange<Double>?
    /// Integer ticks on x (epochs, volume counts).
    public var integerX: Bool
    /// Room left and right of the data as a fraction of its x span (keeps few points off the axes).
    public var xPadding: Double

    public init(title: String, xLabel: String, yLabel: String, series: [Series],
                yRange: ClosedRange<Double>? = nil, integerX: Bool = true, xPadding: Double = 0) {
        (self.title, self.xLabel, self.yLabel, self.series) = (title, xLabel, yLabel, series)
        (self.yRange, self.integerX, self.xPadding) = (yRange, integerX, xPadding)
    }

    /// True when no series has a point.
    public var isEmpty: Bool { series.allSatisfy { $0.points.isEmpty } }

    var xAxis: Axis {
        let xs = series.flatMap { $0.points.map(\.x) }
        let (lo, hi) = (xs.min() ?? 0, xs.max() ?? 1)
        let pad = max(hi - lo, 1) * xPadding
        return Axis(lower: lo - pad, upper: hi + pad, integer: integerX)
    }

    var yAxis: Axis {
        if let yRange { return Axis(lower: yRange.lowerBound, upper: yRange.upperBound, integer: false) }
        let ys = series.flatMap { s in s.points.indices.flatMap { i -> [Double] in
            let e = s.errors?[i] ?? 0
            return [s.points[i].y - e, s.points[i].y + e]
        } }
        return Axis(lower: min(0, ys.min() ?? 0), upper: ys.max() ?? 1, integer: false)
    }
}

/// A linear axis with "nice" ticks (1, 2 or 5 times a power of ten) covering the data.
struct Axis {
    let lower: Double
    let upper: Double
    let step: Double
    let ticks: [Double]

    init(lower: Double, upper: Double, integer: Bool, targetTicks: Int = 6) {
        var (lo, hi) = (lower, upper)
        if !(hi > lo) { (lo, hi) = lo == 0 ? (0, 1) : (lo - abs(lo) * 0.5, hi + abs(hi) * 0.5) }
        var step = Self.nice((hi - lo) / Double(targetTicks - 1))
        if integer { step = max(step.rounded(.up), 1) }
        self.step = step
        let first = (lo / step).rounded(.down) * step, last = (hi / step).rounded(.up) * step
        (self.lower, self.upper) = (first, last)
        ticks = (0...Int(((last - first) / step).rounded())).map { first + Double($0) * step }
    }

    /// The nice number nearest above `x`.
    static func nice(_ x: Double) -> Double {
        let magnitude = pow(10, (log10(x)).rounded(.down))
        let fraction = x / magnitude
        return (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * magnitude
    }

    /// Tick text with as many decimals as the step needs; small values in exponent form.
    func label(_ v: Double) -> String {
        if v == 0 { return "0" }
        if step < 1e-3 { return String(format: "%.1e", v) }
        let decimals = max(0, Int((-log10(step)).rounded(.up)))
        return String(format: "%.\(decimals)f", v)
    }

    /// Fraction of the axis at `v` (0 at `lower`, 1 at `upper`).
    func fraction(_ v: Double) -> Double { (v - lower) / (upper - lower) }
}

/// Pixel geometry shared by the SVG and raster renderings.
struct PlotFrame {
    static let width = 480, height = 300
    static let left = 70.0, right = 16.0, top = 30.0, bottom = 46.0
    let x: Axis, y: Axis

    var plotWidth: Double { Double(Self.width) - Self.left - Self.right }
    var plotHeight: Double { Double(Self.height) - Self.top - Self.bottom }
    func px(_ v: Double) -> Double { Self.left + x.fraction(v) * plotWidth }
    func py(_ v: Double) -> Double { Self.top + (1 - y.fraction(v)) * plotHeight }

    /// Vertices of a series in pixels; a step series holds each value until the next point.
    func vertices(_ s: LinePlot.Series) -> [(Double, Double)] {
        var out: [(Double, Double)] = []
        for (i, p) in s.points.enumerated() {
            if s.style == .step, i > 0 { out.append((px(p.x), py(s.points[i - 1].y))) }
            out.append((px(p.x), py(p.y)))
        }
        return out
    }
}
