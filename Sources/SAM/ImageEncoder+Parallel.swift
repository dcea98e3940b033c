import Dispatch
import Tensors

/// Row-parallel element-wise work for the encoder's non-GEMM stages: the rows are split into at
/// most `BLASRuntime.threads` contiguous chunks run with `DispatchQueue.concurrentPerform`
/// (the BLAS threads are idle between GEMMs, so this uses the same cores). Small jobs run inline.
enum RowParallel {
    /// Fewer elements than this per chunk are not worth a thread hand-off.
    static let minimumChunkElements = 1 << 15

    /// Calls `body(rows)` on disjoint row ranges covering 0..<rows; `width` is the elements per row.
    static func run(rows: Int, width: Int, _ body: (Range<Int>) -> Void) {
        let chunks = min(BLASRuntime.threads, max(1, rows * width / minimumChunkElements), rows)
        guard chunks > 1 else {
            body(0..<rows)
            return
        }
        DispatchQueue.concurrentPerform(iterations: chunks) { k in
            body(rows * k / chunks ..< rows * (k + 1) / chunks)
        }
    }
}
