import XCTest
import Tensors
import TestSupport

final class GemmTests: XCTestCase {
    /// Every transpose combination, awkward sizes (1, odd, padded leading dimensions), alpha/beta.
    func testMatchesNaiveTwinOnAwkwardShapes() {
        let shapes = [(1, 1, 1), (1, 7, 3), (5, 1, 9), (3, 4, 1), (17, 13, 11), (33, 65, 7), (64, 3, 130)]
        var seed: UInt64 = 1
        for (m, n, k) in shapes {
            for transA in [false, true] {
                for transB in [false, true] {
                    for (alpha, beta) in [(Float(1), Float(0)), (0.5, 1), (-2, 0.25)] {
                        seed += 1
                        let pad = 3
                        let lda = (transA ? m : k) + pad, ldb = (transB ? k : n) + pad, ldc = n + pad
                        let a = randomTensor([(transA ? k : m) * lda], seed: seed)
                        let b = randomTensor([(transB ? n : k) * ldb], seed: seed, stream: 1)
                        let c0 = randomTensor([m * ldc], seed: seed, stream: 2)
                        var fast = c0, naive = c0
                        a.withPointer { pa in b.withPointer { pb in
                            fast.withMutablePointer { pc in
                                Gemm.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                                           a: pa, lda: lda, b: pb, ldb: ldb, beta: beta, c: pc, ldc: ldc)
                            }
                            naive.withMutablePointer { pc in
                                NaiveGemm.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                                                a: pa, lda: lda, b: pb, ldb: ldb, beta: beta, c: pc, ldc: ldc)
                            }
                        } }
                        assertClose(fast.data, naive.data, atol: 1e-5 * Float(k), rtol: 1e-5,
                                    "gemm m\(m) n\(n) k\(k) tA\(transA) tB\(transB) a\(alpha) b\(beta)")
                    }
                }
            }
        }
    }

    func testBatchedWithSharedOperand() {
        let (count, m, n, k) = (3, 5, 4, 6)
        let a = randomTensor([count, m, k], seed: 11)
        let b = randomTensor([k, n], seed: 12)   // shared: strideB 0
        var fast = Tensor(zeros: [count, m, n]), naive = fast
        a.withPointer { pa in b.withPointer { pb in
            fast.withMutablePointer { pc in
                Gemm.batched(count: count, m: m, n: n, k: k, a: pa, lda: k, strideA: m * k,
                             b: pb, ldb: n, strideB: 0, c: pc, ldc: n, strideC: m * n)
            }
            naive.withMutablePointer { pc in
                for i in 0..<count {
                    NaiveGemm.sgemm(m: m, n: n, k: k, a: pa + i * m * k, lda: k, b: pb, ldb: n, c: pc + i * m * n,
                                    ldc: n)
                }
            }
        } }
        assertClose(fast.data, naive.data, atol: 1e-5, "batched")
    }

    func testZeroInnerDimensionScalesC() {
        var c = Tensor(repeating: 2, shape: [2, 3])
        let dummy = Tensor(zeros: [1])
        dummy.withPointer { p in
            c.withMutablePointer { pc in
                Gemm.sgemm(m: 2, n: 3, k: 0, a: p, lda: 1, b: p, ldb: 3, beta: 0.5, c: pc, ldc: 3)
            }
        }
        XCTAssertEqual(c.data, [Float](repeating: 1, count: 6))
    }

    func testOpenBLASRunsKernelsMatchingTheCPU() {
        let selection = BLASRuntime.selection
        XCTAssertFalse(selection.activeCore.isEmpty)
        // When the user did not choose, the active family must not be below what the CPU can run.
        if ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil || selection.overridden,
           let want = BLASRuntime.bestCoreForThisCPU {
            XCTAssertGreaterThanOrEqual(BLASRuntime.coreLevel(selection.activeCore), BLASRuntime.coreLevel(want),
                                        "OpenBLAS runs \(selection) on a CPU that supports \(want)")
        }
    }

    func testThreadCountControl() {
        let before = BLASRuntime.threads
        BLASRuntime.setThreads(1)
        XCTAssertEqual(BLASRuntime.threads, 1)
        BLASRuntime.setThreads(before)
        XCTAssertEqual(BLASRuntime.threads, before)
    }

    /// The worker pool restarted with a short idle spin still computes with all its threads.
    func testRestartedThreadPoolComputesWithTwoThreads() {
        _ = BLASRuntime.selection
        XCTAssertNotNil(getenv("OPENBLAS_THREAD_TIMEOUT"), "the spin timeout is set for the pool")
        let before = BLASRuntime.threads
        defer { BLASRuntime.setThreads(before) }
        BLASRuntime.setThreads(2)
        let (m, n, k) = (300, 257, 190)
        let a = randomTensor([m, k], seed: 1), b = randomTensor([k, n], seed: 2)
        var c = [Float](repeating: 0, count: m * n), naive = c
        Gemm.sgemm(m: m, n: n, k: k, a: a.data, lda: k, b: b.data, ldb: n, c: &c, ldc: n)
        NaiveGemm.sgemm(m: m, n: n, k: k, a: a.data, lda: k, b: b.data, ldb: n, c: &naive, ldc: n)
        assertClose(c, naive, atol: 1e-4, rtol: 1e-4, "2-thread GEMM after the pool restart")
    }
}
