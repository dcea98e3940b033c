import Foundation
import XCTest
@testable import Reports

/// The plot and CSV building blocks on awkward inputs.
final class PlotTests: XCTestCase {
    func testAxisTicksCoverTheDataWithNiceSteps() {
        for (lo, hi, integer) in [(0.0, 1.0, false), (0.0013, 0.002, false), (1.0, 3.0, true), (5.0, 5.0, false),
                                  (-0.2, 7.3, false), (1.0, 1.0, true)] {
            let axis = Axis(lower: lo, upper: hi, integer: integer)
            XCTAssertLessThanOrEqual(axis.lower, lo)
            XCTAssertGreaterThanOrEqual(axis.upper, hi)
            XCTAssertLessThan(axis.lower, axis.upper)
            XCTAssertGreaterThanOrEqual(axis.ticks.count, 2)
            if integer { XCTAssertEqual(axis.step, axis.step.rounded()) }
            let mantissa = axis.step / pow(10, log10(axis.step).rounded(.down))
            XCTAssertTrue([1, 2, 5, 10].contains { abs($0 - mantissa) < 1e-9 }, "step \(axis.step)")
        }
    }

    func testPlotRendersAsSVGAndPNGWithOnePointsPerValue() throws {
        let plot = LinePlot(title: "t <&>", xLabel: "epoch", yLabel: "loss",
                            series: [LinePlot.Series(name: "a", key: "a", colour: RGB.series[0],
                                                     points: [(1, 0.5)]),
                                     LinePlot.Series(name: "b", key: "b", colour: RGB.series[1],
                                                     points: [(1, 2), (2, 1), (3, 1)], errors: [0.1, 0.2, 0],
                                                     style: .step)])
        let svg = plot.svg()
        XCTAssertTrue(svg.contains("t &lt;&amp;&gt;"))
        XCTAssertEqual(HTMLChecks.captures("data-series=\"b\"[^>]*points=\"([^\"]*)\"", in: svg).first?
            .split(separator: " ").count, 5)
        HTMLChecks.assertBalanced("<!DOCTYPE html><html><head></head><body>\(svg)</body></html>")
        HTMLChecks.assertPNG(try plot.png())
    }

    func testCSVFieldsWithQuotesAndCommas() {
        XCTAssertEqual(VolumeCSV.parse("a,\"b,c\",\"d\"\"e\","), ["a", "b,c", "d\"e", ""])
        XCTAssertNil(VolumeCSV.parse("a,\"b"))
    }
}
