import XCTest
import Tensors
import TestSupport
@testable import Layers

/// oneDNN plans a primitive's thread split when it is created: a shape first run with one thread
/// must get its own primitive when later run with two (otherwise it stays on one core).
final class BFloat16TeamTests: XCTestCase {
    func testPrimitivesAreKeptPerTeamSize() throws {
        try skipWithoutBFloat16()
        let saved = BLASRuntime.threads
        defer { BLASRuntime.setThreads(saved) }
        let (rows, input, output) = (96, 64, 48)   // a shape no other test uses
        let x = randomTensor([rows, input], seed: 81).data
        let w = randomTensor([output, input], seed: 82).data.map(BFloat16.bits)
        var results: [[Float]] = []
        for threads in [1, 2] {
            BLASRuntime.setThreads(threads)
            var y = [Float](repeating: .nan, count: rows * output)
            BFloat16Linear.forward(y: &y, x: x, weight: w, bias: nil, rows: rows, inFeatures: input,
                                   outFeatures: output)
            results.append(y)
        }
        let key = MatmulKey(rows: rows, inFeatures: input, outFeatures: output, bias: false)
        XCTAssertEqual(Matmuls.shared.teamSizes(key), [1, 2])
        assertClose(results[1], results[0], atol: 1e-5, rtol: 1e-5, "1 vs 2 threads")
    }
}
