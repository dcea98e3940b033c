import Metrics
import Tensors
import TestSupport
import XCTest

/// The separable EDT against its brute-force twin, surface distances against all surface pairs,
/// and numpy's percentile.
final class DistanceTransformTests: XCTestCase {
    /// Random mask with about `density` foreground voxels.
    private func randomMask(_ shape: VolumeShape, density: Float, seed: UInt64) -> [UInt8] {
        let rng = CounterRNG(seed: seed)
        return (0..<shape.count).map { rng.uniform(UInt64($0)) < density ? 1 : 0 }
    }

    private let awkwardShapes = [
        VolumeShape(z: 1, y: 1, x: 1), VolumeShape(z: 1, y: 1, x: 9), VolumeShape(z: 1, y: 7, x: 5),
        VolumeShape(z: 3, y: 5, x: 7), VolumeShape(z: 6, y: 1, x: 4), VolumeShape(z: 5, y: 8, x: 11),
    ]
    private let spacings = [
        VoxelSpacing.unit, VoxelSpacing(z: 10, y: 1.5, x: 1.5), VoxelSpacing(z: 0.7, y: 3.3, x: 1.25),
    ]

    func testSeparableTransformMatchesBruteForce() {
        var seed: UInt64 = 1
        for shape in awkwardShapes {
            for spacing in spacings {
                for density: Float in [0.02, 0.15, 0.6, 1] {
                    seed += 1
                    let features = randomMask(shape, density: density, seed: seed)
                    var fast = [Double](repeating: -1, count: shape.count)
                    var slow = [Double](repeating: -1, count: shape.count)
                    DistanceTransform.squared(&fast, features: features, shape: shape, spacing: spacing)
                    NaiveDistanceTransform.squared(&slow, features: features, shape: shape, spacing: spacing)
                    let label = "\(shape) \(spacing) density \(density)"
                    if features.contains(1) {
                        let c = Closeness(fast, slow, atol: 0, rtol: 1e-12)
                        XCTAssertTrue(c.passed, "\(label): \(c)")
                    } else {
                        XCTAssertTrue(fast.allSatisfy { $0 == .infinity }, label)
                        XCTAssertEqual(fast, slow, label)
                    }
                }
            }
        }
    }

    func testSingleFeatureGivesExactAnisotropicDistances() {
        let shape = VolumeShape(z: 3, y: 4, x: 5)
        let spacing = VoxelSpacing(z: 10, y: 1.5, x: 0.5)
        var features = [UInt8](repeating: 0, count: shape.count)
        features[(1 * 4 + 2) * 5 + 3] = 1
        var out = [Double](repeating: 0, count: shape.count)
        DistanceTransform.squared(&out, features: features, shape: shape, spacing: spacing)
        // Voxel (0, 0, 0): dz = 1, dy = 2, dx = 3 -> 100 + 9 + 2.25.
        XCTAssertEqual(out[0], 111.25)
        XCTAssertEqual(out[(1 * 4 + 2) * 5 + 3], 0)
        XCTAssertEqual(out[(2 * 4 + 2) * 5 + 4], 100.25)
    }

    /// Every pair of surface voxels, brute force, as an independent check of `SurfaceDistances`
    /// (surface extraction, cropping to the bounding box, C order of the lists).
    private func bruteForce(_ a: [UInt8], _ b: [UInt8], _ shape: VolumeShape,
                            _ spacing: VoxelSpacing) -> SurfaceDistances {
        var sa = [UInt8](repeating: 0, count: shape.count)
        var sb = [UInt8](repeating: 0, count: shape.count)
        Surface.extract(&sa, mask: a, shape: shape)
        Surface.extract(&sb, mask: b, shape: shape)
        func coords(_ i: Int) -> (Double, Double, Double) {
            (Double(i / (shape.y * shape.x)) * spacing.z, Double(i / shape.x % shape.y) * spacing.y,
             Double(i % shape.x) * spacing.x)
        }
        func directed(_ from: [UInt8], _ to: [UInt8]) -> [Double] {
            let targets = to.indices.filter { to[$0] != 0 }.map(coords)
            return from.indices.filter { from[$0] != 0 }.map { i in
                let (z, y, x) = coords(i)
                return targets.map { t in ((z - t.0) * (z - t.0) + (y - t.1) * (y - t.1)) + (x - t.2) * (x - t.2) }
                    .min()!.squareRoot()
            }
        }
        return SurfaceDistances(aToB: directed(sa, sb), bToA: directed(sb, sa))
    }

    func testSurfaceDistancesMatchAllPairs() throws {
        var seed: UInt64 = 100
        for shape in awkwardShapes + [VolumeShape(z: 4, y: 13, x: 10)] {
            for spacing in spacings {
                seed += 1
                var a = randomMask(shape, density: 0.3, seed: seed)
                var b = randomMask(shape, density: 0.4, seed: seed + 1000)
                // A small block in one corner keeps the masks away from part of the array.
                if shape.count > 100 {
                    a = a.indices.map { $0 % shape.x < 3 && $0 / shape.x % shape.y < 4 ? a[$0] : 0 }
                }
                a[0] = 1
                b[shape.count - 1] = 1
                let label = "\(shape) \(spacing)"
                let fast = try XCTUnwrap(SurfaceDistances(a, b, shape: shape, spacing: spacing), label)
                let slow = bruteForce(a, b, shape, spacing)
                XCTAssertEqual(fast.aToB.count, slow.aToB.count, label)
                XCTAssertEqual(fast.bToA.count, slow.bToA.count, label)
                XCTAssertTrue(Closeness(fast.pooled, slow.pooled, atol: 1e-12, rtol: 1e-12).passed, label)
            }
        }
    }

    func testPooledStatistics() {
        let d = SurfaceDistances(aToB: [0, 1, 2, 10], bToA: [3, 4])
        XCTAssertEqual(d.assd, 20.0 / 6)
        XCTAssertEqual(d.asdAToB, 13.0 / 4)
        XCTAssertEqual(d.asdBToA, 3.5)
        XCTAssertEqual(d.hd, 10)
        // numpy.percentile([0, 1, 2, 10, 3, 4], 95): sorted [0 1 2 3 4 10], index 4.75 -> 4 + 6 * 0.75.
        XCTAssertEqual(d.hd95, 8.5)
    }

    func testPercentileFollowsNumpyLinear() {
        XCTAssertEqual(Percentile.linear([5], 95), 5)
        XCTAssertEqual(Percentile.linear([1, 2], 0), 1)
        XCTAssertEqual(Percentile.linear([1, 2], 100), 2)
        XCTAssertEqual(Percentile.linear([1, 2], 50), 1.5)
        // numpy.percentile(range(21), 95) = 19.0 exactly; range(10): index 8.55 -> 8.55.
        XCTAssertEqual(Percentile.linear((0...20).map(Double.init), 95), 19)
        XCTAssertEqual(Percentile.linear((0..<10).map(Double.init), 95), 8.549999999999999)
        // t = 0.8 >= 0.5: numpy uses b - (b - a)(1 - t) = 0.8999999999999999, not a + (b - a) t = 0.8999999999999998.
        XCTAssertEqual(Percentile.linear([0, 0, 0, 0.1, 1.1], 95), 0.8999999999999999)
    }
}
