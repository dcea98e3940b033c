import Foundation
import Metrics
import Tensors
import TestSupport
import XCTest

/// Multi-class evaluation and the empty-mask rules of both modes.
final class VolumeEvaluatorTests: XCTestCase {
    private let line = VolumeShape(z: 1, y: 1, x: 8)
    private let halfMillimetre = VoxelSpacing(z: 2, y: 1, x: 0.5)

    /// Hand-computed scores on a 1 x 1 x 8 volume (every voxel is a surface voxel).
    func testHandComputedMultiClassScores() {
        let prediction: [UInt8] = [0, 1, 1, 2, 2, 3, 0, 0]
        let reference: [UInt8] = [0, 1, 2, 2, 2, 0, 0, 3]
        let v = VolumeEvaluator.evaluate(name: "p", prediction: prediction, reference: reference, shape: line,
                                         spacing: halfMillimetre, classCount: 4, mode: .standard)
        XCTAssertEqual(v.classes.map(\.dice), [2.0 / 3, 0.8, 0])
        XCTAssertEqual(v.classes.map(\.predictedVoxels), [2, 2, 1])
        XCTAssertEqual(v.classes.map(\.referenceVoxels), [1, 3, 1])
        // Class 1: pred->ref [0, 0.5], ref->pred [0]: pooled sorted [0, 0, 0.5], index 1.9.
        XCTAssertEqual(v.classes[0].assd!, 0.5 / 3, accuracy: 1e-15)
        XCTAssertEqual(v.classes[0].hd95!, 0.45, accuracy: 1e-15)
        XCTAssertEqual(v.classes[0].hd, 0.5)
        // Class 3: voxels 5 and 7, 1 mm apart.
        XCTAssertEqual(v.classes[2].assd, 1)
        XCTAssertEqual(v.classes[2].hd95, 1)
        XCTAssertEqual(v.average(.dice)!, (2.0 / 3 + 0.8) / 3, accuracy: 1e-15)

        let r = VolumeEvaluator.evaluate(name: "p", prediction: prediction, reference: reference, shape: line,
                                         spacing: halfMillimetre, classCount: 4, mode: .reference)
        XCTAssertEqual(r.classes.map(\.dice), v.classes.map(\.dice))
        XCTAssertEqual(r.classes[2].hd95, 2, "reference mode measures in voxels")
    }

    func testStandardEmptyMaskRules() {
        let empty = [UInt8](repeating: 0, count: 8)
        let some: [UInt8] = [0, 0, 1, 1, 0, 0, 0, 0]
        let both = BinaryMetrics.evaluate(prediction: empty, reference: empty, shape: line, spacing: halfMillimetre,
                                          mode: .standard)
        XCTAssertEqual(both, ClassScores(dice: 1, assd: 0, hd95: 0, hd: 0, predictedVoxels: 0, referenceVoxels: 0))
        let missed = BinaryMetrics.evaluate(prediction: empty, reference: some, shape: line, spacing: halfMillimetre,
                                            mode: .standard)
        XCTAssertEqual(missed,
                       ClassScores(dice: 0, assd: nil, hd95: nil, hd: nil, predictedVoxels: 0, referenceVoxels: 2))
        let spurious = BinaryMetrics.evaluate(prediction: some, reference: empty, shape: line, spacing: halfMillimetre,
                                              mode: .standard)
        XCTAssertEqual(spurious,
                       ClassScores(dice: 0, assd: nil, hd95: nil, hd: nil, predictedVoxels: 2, referenceVoxels: 0))
        XCTAssertNil(BinaryMetrics.dice(empty, empty, voxels: 8), "medpy's dc is NaN here")
    }

    func testReferenceEmptyMaskRules() {
        let empty = [UInt8](repeating: 0, count: 8)
        let some: [UInt8] = [1, 0, 0, 0, 0, 0, 0, 1]
        for (p, r, dice) in [(empty, empty, 1.0), (empty, some, 0), (some, empty, 0)] {
            let s = BinaryMetrics.evaluate(prediction: p, reference: r, shape: line, spacing: halfMillimetre,
                                           mode: .reference)
            XCTAssertEqual(s.dice, dice)
            XCTAssertEqual(s.assd, 0)
            XCTAssertEqual(s.hd95, 0)
            XCTAssertEqual(s.hd, 0)
        }
    }

    func testUndefinedClassMakesVolumeAverageUndefined() {
        let prediction: [UInt8] = [1, 1, 0, 0, 0, 0, 3, 3]
        let reference: [UInt8] = [1, 1, 0, 2, 2, 0, 3, 0]
        let v = VolumeEvaluator.evaluate(name: "p", prediction: prediction, reference: reference, shape: line,
                                         spacing: halfMillimetre, classCount: 4, mode: .standard)
        XCTAssertEqual(v.classes[1].dice, 0)
        XCTAssertNil(v.classes[1].assd)
        XCTAssertNil(v.average(.assd))
        XCTAssertEqual(v.average(.dice)!, (1 + 0 + 2.0 / 3) / 3, accuracy: 1e-15)
    }

    func testClassesMatchBinaryMasksAndIgnoreOtherLabels() {
        let shape = VolumeShape(z: 3, y: 9, x: 7)
        let rng = CounterRNG(seed: 42)
        let prediction = (0..<shape.count).map { UInt8(rng.uniformInt(UInt64($0), below: 5)) }
        let reference = (0..<shape.count).map { UInt8(rng.uniformInt(UInt64($0 + shape.count), below: 4)) }
        let spacing = VoxelSpacing(z: 5, y: 1.25, x: 1.25)
        let v = VolumeEvaluator.evaluate(name: "r", prediction: prediction, reference: reference, shape: shape,
                                         spacing: spacing, classCount: 4, mode: .standard)
        XCTAssertEqual(v.classes.count, 3)
        for c in 1...3 {
            let p = prediction.map { UInt8($0 == c ? 1 : 0) }
            let r = reference.map { UInt8($0 == c ? 1 : 0) }
            let d = SurfaceDistances(p, r, shape: shape, spacing: spacing)!
            XCTAssertEqual(v.classes[c - 1].dice, BinaryMetrics.dice(p, r, voxels: shape.count))
            XCTAssertEqual(v.classes[c - 1].assd, d.assd)
            XCTAssertEqual(v.classes[c - 1].hd95, d.hd95)
            XCTAssertEqual(v.classes[c - 1].hd, d.hd)
        }
    }

    /// An ACDC-sized pair (10 x 256 x 216, three nested blobs, prediction shifted): well under a
    /// second in release; this debug-build test only bounds it loosely and checks the values.
    func testACDCSizedVolumeIsFast() {
        let shape = VolumeShape(z: 10, y: 256, x: 216)
        let reference = CardiacPhantom.labels(shape, shift: 0)
        let prediction = CardiacPhantom.labels(shape, shift: 3)
        let start = Date()
        let v = VolumeEvaluator.evaluate(name: "big", prediction: prediction, reference: reference, shape: shape,
                                         spacing: VoxelSpacing(z: 10, y: 1.4, x: 1.4), classCount: 4, mode: .standard)
        let seconds = Date().timeIntervalSince(start)
        XCTAssertLessThan(seconds, 10, "debug build took \(seconds) s")
        for s in v.classes {
            XCTAssertGreaterThan(s.dice, 0.5)
            XCTAssertLessThan(s.dice, 1)
            XCTAssertGreaterThan(s.hd95!, 0)
        }
    }
}

/// Synthetic short-axis labels: LV disk (3), myocardium ring (2), RV crescent (1), per slice.
enum CardiacPhantom {
    static func labels(_ shape: VolumeShape, shift: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: shape.count)
        let cy = Double(shape.y / 2 + shift)
        let cx = Double(shape.x / 2 - shift)
        for z in 0..<shape.z {
            let scale = 1 - 0.05 * Double(z)
            for y in 0..<shape.y {
                for x in 0..<shape.x {
                    let r = ((Double(y) - cy) * (Double(y) - cy) + (Double(x) - cx) * (Double(x) - cx)).squareRoot()
                    let rv = ((Double(y) - cy) * (Double(y) - cy)
                              + (Double(x) - cx + 40) * (Double(x) - cx + 40)).squareRoot()
                    var label: UInt8 = 0
                    if rv < 30 * scale { label = 1 }
                    if r < 28 * scale { label = 2 }
                    if r < 20 * scale { label = 3 }
                    out[(z * shape.y + y) * shape.x + x] = label
                }
            }
        }
        return out
    }
}
