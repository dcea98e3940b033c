/// Exact squared Euclidean distance transform with anisotropic spacing, in double precision:
///
///     out[i] = min over feature voxels f of ((s_z dz)^2 + (s_y dy)^2) + (s_x dx)^2,   d = i - f,
///
/// or +infinity when there is no feature voxel. This is the square of scipy's
/// `distance_transform_edt(features == 0, sampling=spacing)`, summed in scipy's order (z, y, x) so
/// that the value for a given nearest feature is bit-identical to scipy's.
///
/// Algorithm: Felzenszwalb & Huttenlocher, "Distance Transforms of Sampled Functions" (2012): the
/// squared distance is separable, so one 1D lower-envelope-of-parabolas pass per axis (z, then y,
/// then x) gives the exact result in O(voxels). Each pass replaces f along a line by
/// `min_p (s (q - p))^2 + f(p)`; infinite samples carry no parabola.
///
/// Shapes: features (Z, Y, X) UInt8, non-zero = feature; out (Z, Y, X) Double.
public enum DistanceTransform {
    public static func squared(_ out: UnsafeMutablePointer<Double>, features: UnsafePointer<UInt8>,
                               shape: VolumeShape, spacing: VoxelSpacing) {
        let n = shape.count
        for i in 0..<n { out[i] = features[i] != 0 ? 0 : .infinity }
        guard n > 0 else { return }
        let (nz, ny, nx) = (shape.z, shape.y, shape.x)
        let plane = ny &* nx
        let scratch = Scratch(capacity: max(nz, ny, nx))
        defer { scratch.deallocate() }
        for start in 0..<plane {
            scratch.envelope(out + start, length: nz, stride: plane, spacing: spacing.z)
        }
        for z in 0..<nz {
            for x in 0..<nx {
                scratch.envelope(out + (z &* plane &+ x), length: ny, stride: nx, spacing: spacing.y)
            }
        }
        for row in 0..<(nz &* ny) {
            scratch.envelope(out + row &* nx, length: nx, stride: 1, spacing: spacing.x)
        }
    }

    /// Work buffers for one 1D pass: the line's input values, the envelope's parabola apices
    /// and the boundaries between consecutive parabolas.
    private struct Scratch {
        let values: UnsafeMutablePointer<Double>   // (n) copy of the line
        let apices: UnsafeMutablePointer<Int>      // (n) sample index of each envelope parabola
        let bounds: UnsafeMutablePointer<Double>   // (n + 1) parabola k is lowest on [bounds[k], bounds[k+1]]

        init(capacity: Int) {
            values = .allocate(capacity: capacity)
            apices = .allocate(capacity: capacity)
            bounds = .allocate(capacity: capacity + 1)
        }

        func deallocate() {
            values.deallocate()
            apices.deallocate()
            bounds.deallocate()
        }

        /// In place along one line: `f[q] <- min_p (w (q - p))^2 + f[p]`, positions in physical
        /// units `w * index`.
        func envelope(_ line: UnsafeMutablePointer<Double>, length n: Int, stride: Int, spacing w: Double) {
            var k = -1
            for q in 0..<n {
                let fq = line[q &* stride]
                values[q] = fq
                guard fq < .infinity else { continue }
                let xq = Double(q) * w
                var s = -Double.infinity
                while k >= 0 {
                    let p = apices[k]
                    let xp = Double(p) * w
                    s = ((fq + xq * xq) - (values[p] + xp * xp)) / (2 * (xq - xp))
                    if s > bounds[k] { break }
                    k &-= 1
                }
                k &+= 1
                apices[k] = q
                bounds[k] = k == 0 ? -.infinity : s
                bounds[k &+ 1] = .infinity
            }
            guard k >= 0 else { return }   // no finite sample: the line stays +infinity
            var j = 0
            for q in 0..<n {
                let xq = Double(q) * w
                while bounds[j &+ 1] < xq { j &+= 1 }
                let p = apices[j]
                let d = Double(q &- p) * w
                line[q &* stride] = values[p] + d * d
            }
        }
    }
}

/// Brute-force twin of `DistanceTransform.squared` (test reference): for every voxel, the minimum
/// over all feature voxels, summed in the same (z, y, x) order. O(voxels x features).
public enum NaiveDistanceTransform {
    public static func squared(_ out: UnsafeMutablePointer<Double>, features: UnsafePointer<UInt8>,
                               shape: VolumeShape, spacing: VoxelSpacing) {
        var points: [(Int, Int, Int)] = []
        for z in 0..<shape.z {
            for y in 0..<shape.y {
                for x in 0..<shape.x where features[(z * shape.y + y) * shape.x + x] != 0 {
                    points.append((z, y, x))
                }
            }
        }
        for z in 0..<shape.z {
            for y in 0..<shape.y {
                for x in 0..<shape.x {
                    var best = Double.infinity
                    for (fz, fy, fx) in points {
                        let dz = Double(z - fz) * spacing.z
                        let dy = Double(y - fy) * spacing.y
                        let dx = Double(x - fx) * spacing.x
                        best = min(best, (dz * dz + dy * dy) + dx * dx)
                    }
                    out[(z * shape.y + y) * shape.x + x] = best
                }
            }
        }
    }
}
