/// Surface (border) voxels of a binary mask, as medpy 0.5.2 defines them
/// (ref: medpy/metric/binary.py `__surface_distances`):
/// `border = mask XOR binary_erosion(mask, generate_binary_structure(3, 1), border_value=0)`.
///
/// The structuring element is the 3D cross (the voxel and its 6 face neighbours) and the outside
/// of the array counts as background, so a foreground voxel is a surface voxel when it lies on
/// the array boundary or any face neighbour is background.
///
/// Shapes: mask, surface (Z, Y, X) as in `VolumeShape`.
public enum Surface {
    /// Writes `surface[i] = 1` for surface voxels of `mask`, 0 elsewhere; returns how many.
    @discardableResult
    public static func extract(_ surface: UnsafeMutablePointer<UInt8>, mask: UnsafePointer<UInt8>,
                               shape: VolumeShape) -> Int {
        let (nz, ny, nx) = (shape.z, shape.y, shape.x)
        let plane = ny &* nx
        var count = 0
        for z in 0..<nz {
            for y in 0..<ny {
                let row = (z &* ny &+ y) &* nx
                let interiorRow = z > 0 && z < nz &- 1 && y > 0 && y < ny &- 1
                for x in 0..<nx {
                    let i = row &+ x
                    guard mask[i] != 0 else { surface[i] = 0; continue }
                    var interior = interiorRow && x > 0 && x < nx &- 1
                    if interior {
                        interior = mask[i &- 1] != 0 && mask[i &+ 1] != 0
                            && mask[i &- nx] != 0 && mask[i &+ nx] != 0
                            && mask[i &- plane] != 0 && mask[i &+ plane] != 0
                    }
                    surface[i] = interior ? 0 : 1
                    if !interior { count &+= 1 }
                }
            }
        }
        return count
    }
}

/// Half-open box of voxel indices `[lower, upper)` per axis, (z, y, x).
struct VoxelBox {
    var lower: (z: Int, y: Int, x: Int)
    var upper: (z: Int, y: Int, x: Int)

    var shape: VolumeShape { VolumeShape(z: upper.z - lower.z, y: upper.y - lower.y, x: upper.x - lower.x) }

    /// The smallest box holding every non-zero voxel of `mask` (Z, Y, X), nil when it is empty.
    static func enclosing(_ mask: UnsafePointer<UInt8>, shape: VolumeShape) -> VoxelBox? {
        var lower = (z: Int.max, y: Int.max, x: Int.max)
        var upper = (z: -1, y: -1, x: -1)
        for z in 0..<shape.z {
            for y in 0..<shape.y {
                let row = mask + (z &* shape.y &+ y) &* shape.x
                guard let first = (0..<shape.x).first(where: { row[$0] != 0 }) else { continue }
                let last = (first..<shape.x).last(where: { row[$0] != 0 })!
                lower = (min(lower.z, z), min(lower.y, y), min(lower.x, first))
                upper = (max(upper.z, z), max(upper.y, y), max(upper.x, last))
            }
        }
        guard upper.z >= 0 else { return nil }
        return VoxelBox(lower: lower, upper: (upper.z + 1, upper.y + 1, upper.x + 1))
    }

    /// The smallest box holding both boxes.
    func union(_ other: VoxelBox) -> VoxelBox {
        VoxelBox(lower: (min(lower.z, other.lower.z), min(lower.y, other.lower.y), min(lower.x, other.lower.x)),
                 upper: (max(upper.z, other.upper.z), max(upper.y, other.upper.y), max(upper.x, other.upper.x)))
    }
}
