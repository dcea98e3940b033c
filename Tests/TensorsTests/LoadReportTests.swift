import XCTest
import Tensors

/// `LoadReport`: comparing given tensors with expected ones, filling a `ParameterLayout` without
/// stopping at the first problem, the bounded description and the `check` that names the source.
final class LoadReportTests: XCTestCase {
    /// a (2), b (2, 2), c (1): a flat buffer of 7 values.
    let layout = ParameterLayout([("a", [2]), ("b", [2, 2]), ("c", [1])])

    func testComparisonSortsEveryNameIntoOneList() {
        let report = LoadReport(expected: [("a", [2]), ("b", [2, 2]), ("c", [1])],
                                given: [("x", [3]), ("b", [4]), ("a", [2])])
        XCTAssertEqual(report.loaded, ["a"])
        XCTAssertEqual(report.missing, [.init(name: "c", shape: [1])])
        XCTAssertEqual(report.unused, [.init(name: "x", shape: [3])])
        XCTAssertEqual(report.misshaped, [.init(name: "b", expected: [2, 2], found: [4])])
        XCTAssertFalse(report.isComplete)
        XCTAssertTrue(LoadReport(expected: [("a", [2])], given: [("a", [2])]).isComplete)
    }

    func testFilledWritesEveryFittingTensorAndReportsTheRest() {
        let values = [Float](repeating: -1, count: layout.totalCount)
        let tensors: [(String, Tensor)] = [
            ("c", Tensor(shape: [1], data: [9])),
            ("b", Tensor(shape: [4], data: [5, 6, 7, 8])),          // right count, wrong shape
            ("extra", Tensor(shape: [2], data: [0, 0])),
            ("a", Tensor(shape: [2], data: [1, 2])),
        ]
        let (filled, report) = layout.filled(values, with: tensors)
        XCTAssertEqual(filled, [1, 2, -1, -1, -1, -1, 9], "a and c written, b kept")
        XCTAssertEqual(report.loaded, ["c", "a"])
        XCTAssertEqual(report.missing, [], "b was given, so it is mis-shaped rather than missing")
        XCTAssertEqual(report.unused, [.init(name: "extra", shape: [2])])
        XCTAssertEqual(report.misshaped, [.init(name: "b", expected: [2, 2], found: [4])])
    }

    func testFilledLeavesMissingEntriesAndCheckDecidesWhetherThatIsAnError() throws {
        let values: [Float] = [0, 0, 1, 1, 1, 1, 0]
        let (filled, report) = layout.filled(values, with: [("b", Tensor(shape: [2, 2], data: [4, 3, 2, 1]))])
        XCTAssertEqual(filled, [0, 0, 4, 3, 2, 1, 0])
        XCTAssertEqual(report.missing.map(\.name), ["a", "c"])
        XCTAssertNoThrow(try report.check(source: "part.safetensors", requireAll: false))
        XCTAssertThrowsError(try report.check(source: "whole.safetensors")) { error in
            guard let e = error as? LoadError else { return XCTFail("unexpected error \(error)") }
            XCTAssertEqual(e.source, "whole.safetensors")
            XCTAssertEqual(e.report, LoadReport(missing: report.missing))
        }
    }

    func testCheckThrowsOneErrorNamingTheSourceAndEveryProblem() {
        let report = LoadReport(expected: [("a", [2]), ("b", [2, 2]), ("c", [1])],
                                given: [("x", [3]), ("b", [4])])
        XCTAssertThrowsError(try report.check(source: "run/head.safetensors", requireAll: false, hint: "same head?")) {
            guard let e = $0 as? LoadError else { return XCTFail("unexpected error \($0)") }
            XCTAssertEqual(e.report.missing, [], "missing tensors are allowed without requireAll")
            XCTAssertEqual(e.report.unused.map(\.name), ["x"])
            XCTAssertEqual(e.report.misshaped.map(\.name), ["b"])
            XCTAssertEqual(e.description, """
                run/head.safetensors: the tensors do not fit the model:
                  unused 1: x [3]
                  wrong shape 1: b: expected [2, 2], found [4]
                  hint: same head?
                """)
        }
    }

    func testDescriptionListsAtMostTwentyOfEachList() {
        let given = (0..<25).map { (name: "extra.\($0)", shape: [1]) }
        let report = LoadReport(expected: [("a", [2])], given: given + [("a", [2])])
        let lines = report.description.split(separator: "\n")
        XCTAssertEqual(lines.count, 2, report.description)
        XCTAssertEqual(lines[0], "loaded 1")
        XCTAssertTrue(lines[1].hasPrefix("unused 25: extra.0 [1], extra.1 [1], "), String(lines[1]))
        XCTAssertTrue(lines[1].hasSuffix("extra.19 [1] and 5 more"), String(lines[1]))
        XCTAssertFalse(lines[1].contains("extra.20"))
        XCTAssertEqual(LoadReport().description, "nothing loaded")
    }
}
