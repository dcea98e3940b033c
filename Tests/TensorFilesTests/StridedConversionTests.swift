import Foundation
import XCTest
import Tensors
@testable import TensorFiles

final class StridedConversionTests: XCTestCase {
    /// The branch-free half conversion against the reference one, for every bit pattern.
    func testHalfToFloatMatchesReferenceForAllBitPatterns() {
        for h in 0...UInt16.max {
            let fast = StridedConversion.halfToFloat(h), reference = DTypeConversion.halfToFloat(h)
            if fast.bitPattern != reference.bitPattern {
                XCTFail("half 0x\(String(h, radix: 16)): \(fast) vs \(reference)")
                return
            }
        }
    }

    /// Views with size-1 and size-0 dimensions, permutations, offsets and mergeable dimensions,
    /// in every dtype, against the naive gather.
    func testStridedViewsMatchNaiveGather() {
        let rng = CounterRNG(seed: 5)
        let views: [(shape: [Int], strides: [Int], offset: Int)] = [
            ([], [], 7), ([1], [1], 3), ([5], [1], 0), ([5], [3], 1), ([3, 4], [4, 1], 2), ([4, 3], [1, 4], 0),
            ([2, 1, 3], [3, 99, 1], 5), ([3, 2, 4], [1, 12, 3], 3), ([2, 3, 5], [15, 5, 1], 1),
            ([2, 0, 3], [3, 3, 1], 0),
            ([1, 1, 1], [1, 1, 1], 9), ([2, 2, 2, 2], [1, 2, 4, 8], 4), ([3, 3], [7, 2], 0),
        ]
        let storageCount = 40
        for dtype in DType.allCases {
            let bytes = Data((0..<storageCount * dtype.byteSize).map {
                UInt8(truncatingIfNeeded: rng.bits(UInt64($0)))
            })
            // Keep floats finite so the comparison is by value.
            let isFloat = dtype == .f16 || dtype == .bf16 || dtype == .f32 || dtype == .f64
            let storage = isFloat ? sanitized(bytes, dtype) : bytes
            for v in views {
                let fast = storage.withUnsafeBytes {
                    StridedConversion.floats($0, dtype: dtype, shape: v.shape, strides: v.strides, offset: v.offset)
                }
                let naive = NaiveStridedConversion.floats(storage, dtype: dtype, shape: v.shape, strides: v.strides,
                                                          offset: v.offset)
                XCTAssertEqual(fast, naive, "\(dtype) \(v)")
                let ints = storage.withUnsafeBytes {
                    StridedConversion.integers($0, dtype: dtype, shape: v.shape, strides: v.strides, offset: v.offset)
                }
                if let ints { XCTAssertEqual(ints.map(Float.init), naive, "\(dtype) \(v)") } else {
                    XCTAssertTrue([DType.f32, .f64, .f16, .bf16].contains(dtype))
                }
            }
        }
    }

    /// Random bytes with each float's exponent bits cleared below the top (finite values).
    func sanitized(_ data: Data, _ dtype: DType) -> Data {
        var bytes = [UInt8](data)
        for i in stride(from: dtype.byteSize - 1, to: bytes.count, by: dtype.byteSize) { bytes[i] &= 0xBF }
        return Data(bytes)
    }
}
