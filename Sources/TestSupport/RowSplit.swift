import Tensors

/// Runs `body` with `RowParallel`'s element work in one chunk, then split over 2 threads, BLAS at 2
/// threads in both runs (OpenBLAS's own results may depend on its thread count, e.g. with the
/// Haswell kernels, which is not what a split test is about); returns both results.
public func resultsSerialAndSplit(_ body: () -> [Float]) -> (serial: [Float], split: [Float]) {
    let before = BLASRuntime.threads
    defer {
        BLASRuntime.setThreads(before)
        RowParallel.chunkLimit = nil
    }
    BLASRuntime.setThreads(2)
    RowParallel.chunkLimit = 1
    let serial = body()
    RowParallel.chunkLimit = nil
    return (serial, body())
}

/// True when both results have the same length and the same bits.
public func sameBits(_ results: (serial: [Float], split: [Float])) -> Bool {
    results.serial.count == results.split.count
        && zip(results.serial, results.split).allSatisfy { $0.bitPattern == $1.bitPattern }
}
