import Foundation

/// Cubic B-spline interpolation of an H x W image with "nearest" borders, as
/// `scipy.ndimage.map_coordinates(order=3, mode="nearest")`: the image is padded by 12 edge
/// pixels, prefiltered into spline coefficients (recursive filter, pole sqrt(3) - 2, mirror
/// initialisation), and sampled with the four cubic B-spline weights per axis.
public struct CubicBSpline {
    static let pad = 12
    public let height: Int
    public let width: Int
    /// (H + 2 pad) x (W + 2 pad) spline coefficients.
    let coefficients: [Float]

    public init(image: UnsafePointer<Float>, height: Int, width: Int) {
        self.height = height
        self.width = width
        let p = Self.pad, ph = height + 2 * p, pw = width + 2 * p
        var c = [Float](repeating: 0, count: ph * pw)
        c.withUnsafeMutableBufferPointer { buffer in
            let q = buffer.baseAddress!
            for r in 0..<ph {
                let src = image + min(max(r - p, 0), height - 1) * width
                for col in 0..<pw { q[r &* pw &+ col] = src[min(max(col &- p, 0), width &- 1)] }
            }
            for r in 0..<ph { Self.filterRow(q + r * pw, count: pw) }
            Self.filterColumns(q, rows: ph, width: pw)
        }
        coefficients = c
    }

    private static let pole = Float(3).squareRoot() - 2
    private static let horizon = 13   // |pole|^13 < 1e-7

    private static func filterRow(_ x: UnsafeMutablePointer<Float>, count n: Int) {
        let z = pole
        for i in 0..<n { x[i] *= 6 }
        var zk: Float = 1, sum: Float = 0
        for k in 0..<min(n, horizon) { sum += zk * x[k]; zk *= z }
        x[0] = sum
        for k in 1..<n { x[k] += z * x[k &- 1] }
        x[n - 1] = z / (z * z - 1) * (x[n - 1] + z * x[n - 2])
        for k in stride(from: n - 2, through: 0, by: -1) { x[k] = z * (x[k &+ 1] - x[k]) }
    }

    /// The same recursion down the columns, vectorised across each row.
    private static func filterColumns(_ x: UnsafeMutablePointer<Float>, rows n: Int, width w: Int) {
        let z = pole
        for i in 0..<(n &* w) { x[i] *= 6 }
        let first = UnsafeMutablePointer<Float>.allocate(capacity: w)
        defer { first.deallocate() }
        first.update(repeating: 0, count: w)
        var zk: Float = 1
        for k in 0..<min(n, horizon) {
            let row = x + k &* w
            for c in 0..<w { first[c] += zk * row[c] }
            zk *= z
        }
        x.update(from: first, count: w)
        for r in 1..<n {
            let row = x + r &* w, prev = row - w
            for c in 0..<w { row[c] += z * prev[c] }
        }
        let last = x + (n &- 1) &* w, beforeLast = last - w, g = z / (z * z - 1)
        for c in 0..<w { last[c] = g * (last[c] + z * beforeLast[c]) }
        for r in stride(from: n - 2, through: 0, by: -1) {
            let row = x + r &* w, next = row + w
            for c in 0..<w { row[c] = z * (next[c] - row[c]) }
        }
    }

    /// The interpolated value at (row, column) in pixel coordinates of the original image.
    @inline(__always)
    public func sample(row: Float, column: Float, _ c: UnsafePointer<Float>) -> Float {
        let p = Float(Self.pad), pw = width &+ 2 &* Self.pad, ph = height &+ 2 &* Self.pad
        let y = min(max(row, -p), Float(height - 1) + p) + p
        let x = min(max(column, -p), Float(width - 1) + p) + p
        let fy = y.rounded(.down), fx = x.rounded(.down)
        let iy = Int(fy), ix = Int(fx)
        let wy = Self.weights(y - fy), wx = Self.weights(x - fx)
        var acc: Float = 0
        for a in 0..<4 {
            let r = min(max(iy &+ a &- 1, 0), ph &- 1)
            let line = c + r &* pw
            var rowAcc: Float = 0
            for b in 0..<4 { rowAcc += wx[b] * line[min(max(ix &+ b &- 1, 0), pw &- 1)] }
            acc += wy[a] * rowAcc
        }
        return acc
    }

    @inline(__always)
    static func weights(_ t: Float) -> SIMD4<Float> {
        let t2 = t * t, t3 = t2 * t, u = 1 - t
        return SIMD4(u * u * u / 6, (3 * t3 - 6 * t2 + 4) / 6, (-3 * t3 + 3 * t2 + 3 * t + 1) / 6, t3 / 6)
    }
}

/// Resizing of slices with pixel centres aligned (skimage.transform.resize, "edge" borders).
public enum Resize {
    /// Source coordinate, two neighbours and weight of output index `i` along an axis.
    @inline(__always)
    static func taps(_ i: Int, input n: Int, output m: Int) -> (Int, Int, Float) {
        let s = min(max((Float(i) + 0.5) * Float(n) / Float(m) - 0.5, 0), Float(n - 1))
        let i0 = Int(s)
        return (i0, min(i0 + 1, n - 1), s - Float(i0))
    }

    /// Bilinear resize of an H x W image to OH x OW (order 1).
    public static func linear(_ src: UnsafePointer<Float>, height: Int, width: Int,
                              into dst: UnsafeMutablePointer<Float>, outHeight: Int, outWidth: Int) {
        let cols = (0..<outWidth).map { taps($0, input: width, output: outWidth) }
        for r in 0..<outHeight {
            let (r0, r1, fy) = taps(r, input: height, output: outHeight)
            let a = src + r0 &* width, b = src + r1 &* width, out = dst + r &* outWidth
            for (c, (c0, c1, fx)) in cols.enumerated() {
                let top = a[c0] + fx * (a[c1] - a[c0]), bottom = b[c0] + fx * (b[c1] - b[c0])
                out[c] = top + fy * (bottom - top)
            }
        }
    }

    /// Label resize as batchgenerators' `resize_segmentation(order=1)`: each label's mask is
    /// resized bilinearly and the pixel takes the largest label whose mask value is >= 0.5 (else 0).
    public static func labels(_ src: UnsafePointer<UInt8>, height: Int, width: Int,
                              into dst: UnsafeMutablePointer<UInt8>, outHeight: Int, outWidth: Int) {
        let cols = (0..<outWidth).map { taps($0, input: width, output: outWidth) }
        for r in 0..<outHeight {
            let (r0, r1, fy) = taps(r, input: height, output: outHeight)
            for (c, (c0, c1, fx)) in cols.enumerated() {
                let l = SIMD4(src[r0 &* width &+ c0], src[r0 &* width &+ c1],
                              src[r1 &* width &+ c0], src[r1 &* width &+ c1])
                let w = SIMD4((1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx)
                var best: UInt8 = 0
                for i in 0..<4 where l[i] > best {
                    var mass: Float = 0
                    for j in 0..<4 where l[j] == l[i] { mass += w[j] }
                    if mass >= 0.5 - 1e-5 { best = l[i] }
                }
                dst[r &* outWidth &+ c] = best
            }
        }
    }
}
