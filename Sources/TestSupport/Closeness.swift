import XCTest
import Tensors

/// Result of comparing two float arrays element by element with `|a - e| <= atol + rtol * |e|`.
public struct Closeness: CustomStringConvertible {
    public let count: Int
    public let failures: Int
    public let worstIndex: Int
    public let worstActual: Double
    public let worstExpected: Double
    public let worstExcess: Double   // |a - e| - (atol + rtol |e|) at the worst element
    public let maxAbsDiff: Double

    public var passed: Bool { failures == 0 }

    public init(_ actual: [Float], _ expected: [Float], atol: Double, rtol: Double) {
        self.init(actual.map(Double.init), expected.map(Double.init), atol: atol, rtol: rtol)
    }

    public init(_ actual: [Double], _ expected: [Double], atol: Double, rtol: Double) {
        precondition(actual.count == expected.count, "count \(actual.count) vs expected \(expected.count)")
        var failures = 0, worst = 0, worstExcess = -Double.infinity, maxDiff = 0.0
        for i in 0..<actual.count {
            let a = actual[i], e = expected[i]
            if a.isNaN && e.isNaN { continue }
            let diff = abs(a - e)
            let excess = diff.isNaN ? .infinity : diff - (atol + rtol * abs(e))
            if diff.isNaN || diff > maxDiff { maxDiff = diff.isNaN ? .infinity : diff }
            if excess > 0 { failures += 1 }
            if excess > worstExcess { worstExcess = excess; worst = i }
        }
        self.count = actual.count
        self.failures = failures
        self.worstIndex = worst
        self.worstActual = actual.isEmpty ? 0 : actual[worst]
        self.worstExpected = expected.isEmpty ? 0 : expected[worst]
        self.worstExcess = worstExcess
        self.maxAbsDiff = maxDiff
    }

    public var description: String {
        "\(failures)/\(count) elements out of tolerance; worst at \(worstIndex): "
        + "got \(worstActual), expected \(worstExpected); max |diff| \(maxAbsDiff)"
    }
}

/// Asserts elementwise closeness and reports the worst element on failure.
public func assertClose(_ actual: [Float], _ expected: [Float], atol: Float, rtol: Float = 1e-4,
                        _ name: String = "", file: StaticString = #filePath, line: UInt = #line) {
    guard actual.count == expected.count else {
        XCTFail("\(name): \(actual.count) elements, expected \(expected.count)", file: file, line: line)
        return
    }
    let c = Closeness(actual, expected, atol: Double(atol), rtol: Double(rtol))
    XCTAssertTrue(c.passed, "\(name): \(c)", file: file, line: line)
}

public func assertClose(_ actual: Tensor, _ expected: Tensor, atol: Float, rtol: Float = 1e-4,
                        _ name: String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.shape, expected.shape, "\(name): shape", file: file, line: line)
    assertClose(actual.data, expected.data, atol: atol, rtol: rtol, name, file: file, line: line)
}
