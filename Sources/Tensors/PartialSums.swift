/// Per-band partial sums of one reduction (a weight gradient over pixel bands), each band written by
/// one thread and all added in band order, so the result does not depend on the thread count.
/// Storage (bands, count).
public final class PartialSums {
    public let count: Int, bands: Int
    private let storage: UnsafeMutablePointer<Float>

    public init(count: Int, _ bands: Int) {
        (self.count, self.bands) = (count, bands)
        storage = .allocate(capacity: count * bands)
    }

    deinit { storage.deallocate() }

    public subscript(band: Int) -> UnsafeMutablePointer<Float> { storage + band * count }

    /// target[j] += sum over bands of partial[band][j], bands in order; entries split over the cores.
    public func add(into target: UnsafeMutablePointer<Float>) {
        RowParallel.elements(count, block: 1024) { start, length in
            for band in 0..<bands {
                let partial = storage + band * count + start, out = target + start
                for j in 0..<length { out[j] += partial[j] }
            }
        }
    }
}
