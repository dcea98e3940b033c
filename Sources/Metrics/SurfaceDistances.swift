/// Directed surface distances between two non-empty binary masks, medpy 0.5.2's
/// `__surface_distances` in both directions (ref: medpy/metric/binary.py):
///
///     aToB = distance_transform_edt(NOT border(B), sampling=spacing)[border(A)]
///
/// i.e. for every surface voxel of A, in C order, the exact Euclidean distance (mm with the given
/// spacing; pass `.unit` for voxels) to the nearest surface voxel of B; `bToA` likewise. The
/// metrics pool both lists: `hd95` = numpy.percentile(pooled, 95), `assd` = mean(pooled),
/// `hd` = max(pooled); `asdAToB` / `asdBToA` are the directional means.
///
/// The transform runs only over the bounding box of both surfaces: every surface voxel lies in it,
/// so the nearest-surface distances are unchanged.
public struct SurfaceDistances: Sendable, Equatable {
    /// Distances from each surface voxel of A (C order) to B's surface.
    public let aToB: [Double]
    /// Distances from each surface voxel of B (C order) to A's surface.
    public let bToA: [Double]

    public init(aToB: [Double], bToA: [Double]) {
        self.aToB = aToB
        self.bToA = bToA
    }

    /// Returns nil when either mask is empty (medpy raises RuntimeError there).
    /// Shapes: a, b (Z, Y, X) with `shape.count` voxels, non-zero = foreground.
    public init?(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, shape: VolumeShape, spacing: VoxelSpacing) {
        let n = shape.count
        let borderA = UnsafeMutablePointer<UInt8>.allocate(capacity: n)   // (Z, Y, X)
        let borderB = UnsafeMutablePointer<UInt8>.allocate(capacity: n)   // (Z, Y, X)
        defer { borderA.deallocate(); borderB.deallocate() }
        guard Surface.extract(borderA, mask: a, shape: shape) > 0,
              Surface.extract(borderB, mask: b, shape: shape) > 0,
              let boxA = VoxelBox.enclosing(borderA, shape: shape),
              let boxB = VoxelBox.enclosing(borderB, shape: shape) else { return nil }
        let box = boxA.union(boxB)
        let cropA = Self.crop(borderA, shape: shape, box: box)
        let cropB = Self.crop(borderB, shape: shape, box: box)
        aToB = Self.distances(from: cropA, to: cropB, shape: box.shape, spacing: spacing)
        bToA = Self.distances(from: cropB, to: cropA, shape: box.shape, spacing: spacing)
    }

    /// Pooled distances, A's list first (medpy's `numpy.hstack((hd1, hd2))`).
    public var pooled: [Double] { aToB + bToA }

    /// 95th percentile of the pooled distances, numpy's linear interpolation (medpy `hd95`).
    public var hd95: Double { Percentile.linear(pooled.sorted(), 95) }
    /// Mean of the pooled distances (medpy 0.5.2 `assd`; not the mean of the two directional means).
    public var assd: Double { Self.mean(pooled) }
    /// Largest distance in either direction (medpy `hd`).
    public var hd: Double { max(aToB.max() ?? 0, bToA.max() ?? 0) }
    /// Mean distance from A's surface to B's (medpy `asd(A, B)`).
    public var asdAToB: Double { Self.mean(aToB) }
    /// Mean distance from B's surface to A's (medpy `asd(B, A)`).
    public var asdBToA: Double { Self.mean(bToA) }

    private static func mean(_ values: [Double]) -> Double {
        values.reduce(0, +) / Double(values.count)
    }

    /// The part of `mask` inside `box`, as its own (box.shape) volume.
    private static func crop(_ mask: UnsafePointer<UInt8>, shape: VolumeShape, box: VoxelBox) -> [UInt8] {
        let inner = box.shape
        var out = [UInt8](repeating: 0, count: inner.count)
        out.withUnsafeMutableBufferPointer { dst in
            for z in 0..<inner.z {
                for y in 0..<inner.y {
                    let srcRow: Int = (box.lower.z &+ z) &* shape.y &+ box.lower.y &+ y
                    let dstRow: Int = z &* inner.y &+ y
                    (dst.baseAddress! + dstRow &* inner.x).update(from: mask + (srcRow &* shape.x &+ box.lower.x),
                                                                  count: inner.x)
                }
            }
        }
        return out
    }

    /// sqrt of the squared transform of `to`'s voxels, read at `from`'s voxels in C order.
    private static func distances(from: [UInt8], to: [UInt8], shape: VolumeShape, spacing: VoxelSpacing) -> [Double] {
        let field = UnsafeMutablePointer<Double>.allocate(capacity: shape.count)   // (Z, Y, X)
        defer { field.deallocate() }
        to.withUnsafeBufferPointer {
            DistanceTransform.squared(field, features: $0.baseAddress!, shape: shape, spacing: spacing)
        }
        var out: [Double] = []
        for i in 0..<shape.count where from[i] != 0 { out.append(field[i].squareRoot()) }
        return out
    }
}
