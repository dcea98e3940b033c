/// Consecutive work items (pixel bands, tiles) grouped for a reduction that keeps one partial sum of
/// `partialFloats` floats per group: one group per item while all partials fit `budget` floats (16 MB
/// by default), fewer and larger groups otherwise. Depends only on the sizes, never on the thread
/// count. Group g holds items `self[g]`.
public struct ItemGroups: Sendable {
    public let items: Int, count: Int

    public init(items: Int, partialFloats: Int, budget: Int = 1 << 22) {
        self.items = items
        count = items == 0 ? 0 : min(items, max(1, budget / max(partialFloats, 1)))
    }

    public subscript(group: Int) -> Range<Int> { items * group / count ..< items * (group + 1) / count }
}

/// Per-group partial sums of one reduction (a weight gradient over pixel bands): each group's partial
/// is written by one thread, its items in order, and the partials are added in group order, so the
/// result does not depend on the thread count. Storage (groups, count).
public final class PartialSums {
    public let count: Int, groups: Int
    private let storage: UnsafeMutablePointer<Float>

    public init(count: Int, _ groups: Int) {
        (self.count, self.groups) = (count, groups)
        storage = .allocate(capacity: count * groups)
    }

    deinit { storage.deallocate() }

    public subscript(group: Int) -> UnsafeMutablePointer<Float> { storage + group * count }

    /// target[j] += sum over groups of partial[group][j], groups in order; entries split over the cores.
    public func add(into target: UnsafeMutablePointer<Float>) {
        RowParallel.elements(count, block: 1024) { start, length in
            for group in 0..<groups {
                let partial = storage + group * count + start, out = target + start
                for j in 0..<length { out[j] += partial[j] }
            }
        }
    }
}
