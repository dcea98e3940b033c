import TensorFiles
import Metrics
import TestSupport
import XCTest

/// Our metrics against medpy 0.5.2's values in `metrics.safetensors` (fixtures README,
/// "medpy behaviour"): z,y,x masks of the manifest's `metric_shape` with its `metric_spacing` (mm).
final class MedpyFixtureTests: XCTestCase {
    private var file: SafeTensorsFile!
    private var spacing: VoxelSpacing!
    private var shape: VolumeShape!

    override func setUpWithError() throws {
        file = try Fixtures.file("metrics")
        let s = try file.doubles("spacing")
        spacing = VoxelSpacing(z: s[0], y: s[1], x: s[2])
        let dims = try file.entry("case0/pred").shape
        shape = VolumeShape(z: dims[0], y: dims[1], x: dims[2])
    }

    /// Case names (`caseN`) found in the file, sorted.
    private func caseNames() -> [String] {
        file.names.filter { $0.hasPrefix("case") && $0.hasSuffix("/pred") }
            .map { String($0.dropLast("/pred".count)) }.sorted()
    }

    private func mask(_ name: String) throws -> [UInt8] {
        try file.integers(name).map { UInt8($0) }
    }

    private func value(_ name: String) throws -> Double {
        try file.doubles(name)[0]
    }

    /// The manifest's medpy values by case name (`files` -> `metrics.safetensors` -> `values`).
    private func manifestValues() throws -> [String: Any] {
        try XCTUnwrap(Fixtures.fileInfo("metrics.safetensors")?["values"] as? [String: Any], "manifest metrics values")
    }

    func testSpacingAgreesWithManifest() throws {
        let config = try XCTUnwrap(Fixtures.config["metric_spacing"] as? [Double])
        XCTAssertEqual([spacing.z, spacing.y, spacing.x], config)
        XCTAssertEqual(Fixtures.config["metric_shape"] as? [Int], [shape.z, shape.y, shape.x])
        XCTAssertEqual(caseNames(), try manifestValues().keys.filter { $0.hasPrefix("case") }.sorted())
        XCTAssertFalse(caseNames().isEmpty)
    }

    func testSurfaceMatchesMedpyBorder() throws {
        for which in ["pred", "gt"] {
            let m = try mask("case0/\(which)")
            let expected = try mask("case0/\(which)_border")
            var surface = [UInt8](repeating: 7, count: m.count)
            let count = Surface.extract(&surface, mask: m, shape: shape)
            XCTAssertEqual(surface, expected, which)
            XCTAssertEqual(count, expected.filter { $0 != 0 }.count, which)
        }
    }

    func testDistancesPerSurfaceVoxelMatchMedpy() throws {
        let d = try XCTUnwrap(SurfaceDistances(try mask("case0/pred"), try mask("case0/gt"), shape: shape,
                                               spacing: spacing))
        for (name, actual) in [("case0/sds_pred_to_gt", d.aToB), ("case0/sds_gt_to_pred", d.bToA)] {
            let expected = try file.doubles(name)
            XCTAssertEqual(actual.count, expected.count, name)
            let c = Closeness(actual, expected, atol: 0, rtol: 1e-12)
            XCTAssertTrue(c.passed, "\(name): \(c)")
        }
    }

    func testMetricsWithSpacingMatchMedpy() throws {
        for name in caseNames() {
            let pred = try mask("\(name)/pred")
            let gt = try mask("\(name)/gt")
            let d = try XCTUnwrap(SurfaceDistances(pred, gt, shape: shape, spacing: spacing), name)
            XCTAssertEqual(BinaryMetrics.dice(pred, gt, voxels: shape.count), try value("\(name)/dc"), name)
            assertRelative(d.assd, try value("\(name)/assd_spacing"), "\(name) assd")
            assertRelative(d.hd95, try value("\(name)/hd95_spacing"), "\(name) hd95")
            assertRelative(d.hd, try value("\(name)/hd_spacing"), "\(name) hd")
            assertRelative(d.asdAToB, try value("\(name)/asd_pred_to_gt_spacing"), "\(name) asd pred->gt")
            assertRelative(d.asdBToA, try value("\(name)/asd_gt_to_pred_spacing"), "\(name) asd gt->pred")

            let scores = BinaryMetrics.evaluate(prediction: pred, reference: gt, shape: shape, spacing: spacing,
                                                mode: .standard)
            XCTAssertEqual(scores.dice, try value("\(name)/dc"), name)
            assertRelative(try XCTUnwrap(scores.assd), try value("\(name)/assd_spacing"), "\(name) scores.assd")
            assertRelative(try XCTUnwrap(scores.hd95), try value("\(name)/hd95_spacing"), "\(name) scores.hd95")
        }
    }

    func testMetricsInVoxelsMatchMedpy() throws {
        for name in caseNames() {
            let pred = try mask("\(name)/pred")
            let gt = try mask("\(name)/gt")
            let d = try XCTUnwrap(SurfaceDistances(pred, gt, shape: shape, spacing: .unit), name)
            assertRelative(d.hd95, try value("\(name)/hd95_voxels"), "\(name) hd95 voxels")
            assertRelative(d.assd, try value("\(name)/assd_voxels"), "\(name) assd voxels")

            let reference = BinaryMetrics.evaluate(prediction: pred, reference: gt, shape: shape, spacing: spacing,
                                                   mode: .reference)
            assertRelative(try XCTUnwrap(reference.hd95), try value("\(name)/hd95_voxels"), "\(name) reference hd95")
        }
    }

    func testEmptyPrediction() throws {
        let pred = try mask("empty_pred/pred")
        let gt = try mask("empty_pred/gt")
        XCTAssertEqual(pred.filter { $0 != 0 }.count, 0)
        XCTAssertEqual(BinaryMetrics.dice(pred, gt, voxels: shape.count), try value("empty_pred/dc"))
        XCTAssertNil(SurfaceDistances(pred, gt, shape: shape, spacing: spacing), "medpy raises: first array empty")
        XCTAssertNil(SurfaceDistances(gt, pred, shape: shape, spacing: spacing), "medpy raises: second array empty")

        let ours = BinaryMetrics.evaluate(prediction: pred, reference: gt, shape: shape, spacing: spacing,
                                          mode: .standard)
        XCTAssertEqual(ours.dice, 0)
        XCTAssertNil(ours.assd)
        XCTAssertNil(ours.hd95)
        XCTAssertNil(ours.hd)
        let values = try XCTUnwrap(manifestValues()["empty_pred"] as? [String: Any])
        XCTAssertEqual(ours.referenceVoxels, try XCTUnwrap(values["num_gt_voxels"] as? Int))
        XCTAssertEqual(ours.referenceVoxels, gt.filter { $0 != 0 }.count)

        let reference = BinaryMetrics.evaluate(prediction: pred, reference: gt, shape: shape, spacing: spacing,
                                               mode: .reference)
        XCTAssertEqual(reference.dice, try XCTUnwrap(values["evaluate_py_dice"] as? Double))
        XCTAssertEqual(reference.hd95, try XCTUnwrap(values["evaluate_py_hd"] as? Double))
    }

    private func assertRelative(_ actual: Double, _ expected: Double, _ name: String,
                                file: StaticString = #filePath, line: UInt = #line) {
        let c = Closeness([actual], [expected], atol: 0, rtol: 1e-9)
        XCTAssertTrue(c.passed, "\(name): \(c)", file: file, line: line)
    }
}
