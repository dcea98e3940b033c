import Foundation
import Tensors
import TestSupport
import XCTest
@testable import Datasets

final class AugmentationTests: XCTestCase {
    /// Two volumes of 3 slices of 14 x 11 with a bright disc labelled 1..3.
    private func sliceSet() -> SliceSet {
        let volumes = (0..<2).map { v -> Volume in
            let d = 3, h = 14, w = 11
            var image = [Float](repeating: 0, count: d * h * w), labels = [UInt8](repeating: 0, count: d * h * w)
            for z in 0..<d {
                for r in 0..<h {
                    for c in 0..<w {
                        let i = (z * h + r) * w + c
                        let dr = Float(r) - 6.5 - Float(z), dc = Float(c) - 5
                        let inside = dr * dr + dc * dc < 12
                        image[i] = Float(r) * 0.1 - Float(c) * 0.05 + (inside ? 2 : 0) + Float(v)
                        labels[i] = inside ? UInt8(1 + (z + v) % 3) : 0
                    }
                }
            }
            return Volume(patient: "p\(v)", name: "p\(v)_frame01", depth: d, height: h, width: w,
                          spacing: Spacing(row: 1.5, column: 1.5, slice: 10), image: image, labels: labels,
                          geometry: nil, imageFile: "", labelFile: nil)
        }
        return SliceSet(volumes: volumes)
    }

    private func config(size: Int = 16) -> AugmentationConfig { .reference(outputSize: size, channels: 3) }

    /// Every random step switched off: elastic alpha 0, probabilities 0.
    private func quiet(size: Int = 16) -> AugmentationConfig {
        var c = config(size: size)
        c.brightnessProbability = 0
        c.gammaProbability = 0
        c.noiseProbability = 0
        c.mirrorProbability = 0
        c.rotationProbability = 0
        c.scaleProbability = 0
        c.elasticAlphaRange = 0...0
        return c
    }

    func testDeterministicFromSeedEpochAndSlice() {
        let set = sliceSet(), a = Augmenter(config: config(), seed: 11)
        XCTAssertEqual(a.augment(set, slice: 4, epoch: 2), a.augment(set, slice: 4, epoch: 2))
        XCTAssertNotEqual(a.augment(set, slice: 4, epoch: 2), a.augment(set, slice: 4, epoch: 3))
        XCTAssertNotEqual(a.augment(set, slice: 4, epoch: 2),
                          Augmenter(config: config(), seed: 12).augment(set, slice: 4, epoch: 2))
    }

    func testIndependentOfProcessingOrderAndThread() {
        let set = sliceSet(), a = Augmenter(config: config(), seed: 5)
        let inOrder = (0..<set.count).map { a.augment(set, slice: $0, epoch: 1) }
        var reversed = [AugmentedSlice?](repeating: nil, count: set.count)
        for id in (0..<set.count).reversed() { reversed[id] = a.augment(set, slice: id, epoch: 1) }
        XCTAssertEqual(reversed.map { $0! }, inOrder)
        let concurrent = ConcurrentResults(count: set.count)
        DispatchQueue.concurrentPerform(iterations: set.count) {
            concurrent.set($0, a.augment(set, slice: $0, epoch: 1))
        }
        XCTAssertEqual(concurrent.values, inOrder)
    }

    func testShapesValuesAndLabelsStayValid() {
        let set = sliceSet(), a = Augmenter(config: config(size: 20), seed: 1)
        for epoch in 0..<4 {
            for id in 0..<set.count {
                let out = a.augment(set, slice: id, epoch: epoch)
                XCTAssertEqual(out.image.shape, [3, 20, 20])
                XCTAssertTrue(out.image.data.allSatisfy(\.isFinite))
                XCTAssertEqual(out.labels?.count, 400)
                XCTAssertTrue(Set(out.labels!).isSubset(of: Set(set.labels(id)!)), "labels come from the input")
            }
        }
    }

    func testQuietConfigurationIsTheEvaluationResize() {
        let set = sliceSet(), a = Augmenter(config: quiet(), seed: 3)
        for id in [0, 4] {
            let out = a.augment(set, slice: id, epoch: 0), eval = a.evaluationView(set, slice: id)
            assertClose(out.image, eval.image, atol: 1e-4, rtol: 0, "identity warp")
            XCTAssertEqual(out.labels, eval.labels)
            XCTAssertEqual(eval.image.shape, [3, 16, 16])
        }
    }

    func testMirrorFlipsColumns() {
        var c = quiet()
        c.mirrorProbability = 1
        let set = sliceSet(), out = Augmenter(config: c, seed: 3).augment(set, slice: 2, epoch: 0)
        let eval = Augmenter(config: quiet(), seed: 3).evaluationView(set, slice: 2)
        for ch in 0..<3 {
            for r in 0..<16 {
                for col in 0..<16 { XCTAssertEqual(out.image[ch, r, col], eval.image[ch, r, 15 - col], accuracy: 1e-4) }
            }
        }
        XCTAssertEqual(out.labels![5 * 16 + 3], eval.labels![5 * 16 + 12])
    }

    /// A row ramp rotated by a and scaled by s reads back ((r - c) cos a + (col - c) sin a) s + c
    /// (batchgenerators' convention), exact for a cubic spline away from the borders; the ramp
    /// 0...23 is min-max scaled to [0, 1] first, so values read back divided by 23.
    func testRotationAndScaleFollowTheReferenceCoordinateConvention() {
        var c = quiet(size: 24)
        c.rotationProbability = 1
        c.rotationRange = 0.1...0.1
        c.scaleProbability = 1
        c.scaleRange = 1.25...1.25   // above 1: the reference draws U(max(low, 1), high) = 1.25
        c.channels = 1
        let ramp: [Float] = (0..<(24 * 24)).map { (i: Int) -> Float in Float(i / 24) }
        let out = ramp.withUnsafeBufferPointer {
            Augmenter(config: c, seed: 0).augment(image: $0.baseAddress!, labels: nil, height: 24, width: 24,
                                                  rng: CounterRNG(seed: 9))
        }
        let centre: Float = 11.5
        for r in 8..<16 {
            for col in 8..<16 {
                let expected = ((Float(r) - centre) * cos(0.1) + (Float(col) - centre) * sin(0.1)) * 1.25 + centre
                XCTAssertEqual(out.image[0, r, col], expected / 23, accuracy: 1e-4, "(\(r), \(col))")
            }
        }
    }

    /// The reference order on a hand-computed case (AutoSAM @ 4f54845 `dataset/ACDC.py`): the slice
    /// is min-max scaled to [0, 1] FIRST, then brightness adds its shift (here exactly +1: mean 1,
    /// std 0), and nothing normalises again, so the view is scaled + 1 and leaves [0, 1]. Before
    /// the fix the augmenter shifted the z-scored slice and a later min-max cancelled the shift.
    func testSliceIsScaledToUnitRangeBeforeBrightnessAndNeverAgain() {
        var b = quiet()
        b.channels = 1
        b.brightnessProbability = 1
        b.brightnessMean = 1
        b.brightnessStd = 0
        let slice: [Float] = (0..<256).map { Float($0 % 16) * 0.3 - Float($0 / 16) * 0.2 - 4 }   // z-scored-like values
        let (low, high) = (slice.min()!, slice.max()!)
        let view = slice.withUnsafeBufferPointer {
            Augmenter(config: b, seed: 0).augment(image: $0.baseAddress!, labels: nil, height: 16, width: 16,
                                                  rng: CounterRNG(seed: 2))
        }
        assertClose(view.image.data, slice.map { ($0 - low) / (high - low) + 1 }, atol: 1e-5, rtol: 0,
                    "min-max, then +1")
        XCTAssertEqual(view.image.data.min()!, 1, accuracy: 1e-5)
        XCTAssertEqual(view.image.data.max()!, 2, accuracy: 1e-5)
        let clean = Augmenter(config: quiet(), seed: 0).evaluationView(sliceSet(), slice: 0).image.data
        // Evaluation views are min-max scaled too (then resized 14 x 11 -> 16 x 16, inside [0, 1]).
        XCTAssertGreaterThanOrEqual(clean.min()!, -1e-6)
        XCTAssertLessThanOrEqual(clean.max()!, 1 + 1e-6)
        XCTAssertGreaterThan(clean.max()! - clean.min()!, 0.8)
    }

    func testBrightnessShiftsEachChannelAndGammaKeepsTheRange() {
        var b = quiet()
        b.brightnessProbability = 1
        let set = sliceSet(), base = Augmenter(config: quiet(), seed: 8).augment(set, slice: 1, epoch: 0)
        let bright = Augmenter(config: b, seed: 8).augment(set, slice: 1, epoch: 0)
        let shifts = (0..<3).map { bright.image[$0, 7, 7] - base.image[$0, 7, 7] }
        for ch in 0..<3 { XCTAssertEqual(bright.image[ch, 2, 9] - base.image[ch, 2, 9], shifts[ch], accuracy: 1e-4) }
        XCTAssertNotEqual(shifts[0], shifts[1], "one draw per channel")

        // Gamma on a 16 x 16 input (resize and warp are then identities): same minimum and maximum.
        var g = quiet()
        g.gammaProbability = 1
        let ramp: [Float] = (0..<256).map { (i: Int) -> Float in Float(i % 16) * 0.25 - Float(i / 16) * 0.1 }
        let views = [quiet(), g].map { config in
            ramp.withUnsafeBufferPointer {
                Augmenter(config: config, seed: 0).augment(image: $0.baseAddress!, labels: nil, height: 16, width: 16,
                                                           rng: CounterRNG(seed: 6))
            }
        }
        let scaled = UnitRange.scaled(ramp)
        assertClose(views[0].image.data, Array(scaled + scaled + scaled), atol: 1e-5, rtol: 0,
                    "identity of the [0, 1] slice")
        XCTAssertEqual(views[1].image.data.min()!, 0, accuracy: 1e-4)
        XCTAssertEqual(views[1].image.data.max()!, 1, accuracy: 1e-4)
        XCTAssertGreaterThan(zip(views[1].image.data, views[0].image.data).map { abs($0 - $1) }.max()!, 0.01)
    }

    func testElasticDeformationMovesPixelsByAFewTenthsOfAPixel() {
        var c = quiet(size: 32)
        c.elasticAlphaRange = 350...350
        c.elasticSigmaRange = 40...40
        let grid = Augmenter(config: c, seed: 2).samplingGrid(rng: CounterRNG(seed: 4))
        let displacement = (0..<(32 * 32)).map { abs(grid[$0] - Float($0 / 32)) }
        XCTAssertGreaterThan(displacement.max()!, 0.01)
        XCTAssertLessThan(displacement.max()!, 5)
    }
}

/// Results written from concurrent iterations.
private final class ConcurrentResults: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [AugmentedSlice?]
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ value: AugmentedSlice) {
        lock.lock()
        slots[i] = value
        lock.unlock()
    }
    var values: [AugmentedSlice] { slots.map { $0! } }
}
