import Foundation
import TestSupport
import XCTest
@testable import Datasets

final class InterpolationTests: XCTestCase {
    private func testImage() -> [Float] {
        (0..<42).map { i -> Float in
            let r = Float(i / 7), c = Float(i % 7)
            return sin(r * 0.7) + cos(c * 1.3) * 0.5 + r * c * 0.05
        }
    }

    private let points: [(Float, Float)] = [(0, 0), (2.3, 4.6), (-1.2, 3.3), (5.9, 7.5), (3.5, -0.25), (10, -4),
                                            (1.01, 5.99), (4, 2)]

    /// Values from scipy.ndimage.map_coordinates(img, pts, order=3, mode="nearest") (scipy 1.17).
    func testCubicBSplineMatchesScipy() {
        let expected: [Float] = [0.5, 2.005652, -0.19115, 1.177853, 1.159269, 0.1492168, 0.9837524, 0.3065438]
        let image = testImage()
        let spline = image.withUnsafeBufferPointer { CubicBSpline(image: $0.baseAddress!, height: 6, width: 7) }
        let got = spline.coefficients.withUnsafeBufferPointer { c in
            points.map { spline.sample(row: $0.0, column: $0.1, c.baseAddress!) }
        }
        assertClose(got, expected, atol: 2e-4, rtol: 0, "B-spline")
    }

    func testCubicBSplineInterpolatesAtPixelCentres() {
        let image = testImage()
        let spline = image.withUnsafeBufferPointer { CubicBSpline(image: $0.baseAddress!, height: 6, width: 7) }
        let got = spline.coefficients.withUnsafeBufferPointer { c in
            (0..<42).map { spline.sample(row: Float($0 / 7), column: Float($0 % 7), c.baseAddress!) }
        }
        assertClose(got, image, atol: 1e-5, rtol: 0, "interpolating")
    }

    func testNearestIndexRoundsAndClamps() {
        XCTAssertEqual(Augmenter.nearest(2.49, 5), 2)
        XCTAssertEqual(Augmenter.nearest(2.5, 5), 3)
        XCTAssertEqual(Augmenter.nearest(-3, 5), 0)
        XCTAssertEqual(Augmenter.nearest(9.7, 5), 4)
    }

    private func field(height: Int, width: Int) -> [Float] {
        (0..<(height * width)).map { Float((($0 / width * 11 + $0 % width) * 37) % 17) / 8 - 1 }
    }

    private func separable(_ f: [Float], height: Int, width: Int, sigma: Float) -> [Float] {
        var out = f, scratch = [Float](repeating: 0, count: f.count)
        out.withUnsafeMutableBufferPointer { o in
            scratch.withUnsafeMutableBufferPointer {
                GaussianFilter.smooth(o.baseAddress!, scratch: $0.baseAddress!, height: height, width: width,
                                      sigma: sigma)
            }
        }
        return out
    }

    /// Values from scipy.ndimage.gaussian_filter(f, sigma, mode="constant") on the 9 x 11 field.
    func testGaussianFilterMatchesScipy() {
        let f = field(height: 9, width: 11)
        let at = [(0, 0), (4, 5), (8, 10), (2, 9)]
        for (sigma, expected) in [(Float(1.3), [Float(-0.1191798), 0.1864691, -0.1456383, -0.06437077]),
                                  (40, [-0.0001072327, -0.0001123192, -0.0001146665, -0.0001167336])] {
            let g = separable(f, height: 9, width: 11, sigma: sigma)
            assertClose(at.map { g[$0.0 * 11 + $0.1] }, expected, atol: 1e-6, rtol: 1e-4, "sigma \(sigma)")
        }
    }

    func testSeparableGaussianMatchesNaiveTwinOnAwkwardShapes() {
        for (h, w, sigma) in [(1, 1, Float(0.7)), (1, 9, 2), (7, 1, 1.5), (5, 13, 3.3), (16, 3, 40)] {
            let f = field(height: h, width: w)
            assertClose(separable(f, height: h, width: w, sigma: sigma),
                        NaiveGaussianFilter.smooth(f, height: h, width: w, sigma: sigma),
                        atol: 1e-6, rtol: 1e-4, "\(h)x\(w) sigma \(sigma)")
        }
    }

    func testLinearResize() {
        let ramp: [Float] = (0..<16).map { Float($0 % 4) + 10 * Float($0 / 4) }   // 4x4, value = col + 10 row
        var same = [Float](repeating: 0, count: 16), half = [Float](repeating: 0, count: 4)
        ramp.withUnsafeBufferPointer { src in
            Resize.linear(src.baseAddress!, height: 4, width: 4, into: &same, outHeight: 4, outWidth: 4)
            Resize.linear(src.baseAddress!, height: 4, width: 4, into: &half, outHeight: 2, outWidth: 2)
        }
        XCTAssertEqual(same, ramp)
        XCTAssertEqual(half, [5.5, 7.5, 25.5, 27.5])   // centres of the 2x2 blocks
    }

    func testLabelResizeTakesLargestLabelWithHalfTheMass() {
        // 1 x 2 labels [1, 3] -> 1 x 4: positions -0.25, 0.25, 0.75, 1.25 (clamped to 0...1).
        let src: [UInt8] = [1, 3]
        var out = [UInt8](repeating: 9, count: 4)
        Resize.labels(src, height: 1, width: 2, into: &out, outHeight: 1, outWidth: 4)
        XCTAssertEqual(out, [1, 1, 3, 3])
        // A one-pixel class survives upsampling: [0, 2, 0] -> 1 x 6.
        var thin = [UInt8](repeating: 9, count: 6)
        Resize.labels([0, 2, 0], height: 1, width: 3, into: &thin, outHeight: 1, outWidth: 6)
        XCTAssertEqual(thin, [0, 0, 2, 2, 0, 0])
    }
}
