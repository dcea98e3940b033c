import Tensors

/// bfloat16 (1 sign, 8 exponent, 7 mantissa bits: float32's range, ~3 significant digits), stored
/// as the upper 16 bits of a float32. Conversions round to nearest, ties to even; NaN stays a
/// (quiet) NaN, infinities stay infinite, values beyond the largest bfloat16 round to infinity as
/// IEEE rounding does.
public enum BFloat16 {
    /// The bfloat16 bits of x, rounded to nearest even.
    @inlinable @inline(__always)
    public static func bits(_ x: Float) -> UInt16 {
        let u = x.bitPattern
        let rounded = (u &+ 0x7FFF &+ ((u >> 16) & 1)) >> 16
        let quietNaN = (u >> 16) | 0x0040
        // A select, not a branch, so conversion loops vectorise.
        return UInt16(truncatingIfNeeded: u & 0x7FFF_FFFF > 0x7F80_0000 ? quietNaN : rounded)
    }

    /// The float32 value of bfloat16 bits (exact).
    @inlinable @inline(__always)
    public static func float(_ b: UInt16) -> Float { Float(bitPattern: UInt32(b) << 16) }

    /// x rounded to the nearest bfloat16, as a float32.
    @inlinable @inline(__always)
    public static func rounded(_ x: Float) -> Float { float(bits(x)) }

    /// y (n) <- bfloat16 bits of x (n), on all cores for large n.
    public static func convert(_ x: UnsafePointer<Float>, to y: UnsafeMutablePointer<UInt16>, count n: Int) {
        RowParallel.elements(n, block: 1 << 14) { start, count in
            let (x, y) = (x + start, y + start)
            for i in 0..<count { y[i] = bits(x[i]) }
        }
    }

    /// A new buffer with the bfloat16 bits of x (n); the caller deallocates it.
    public static func copy(_ x: UnsafePointer<Float>, count n: Int) -> UnsafeMutablePointer<UInt16> {
        let y = UnsafeMutablePointer<UInt16>.allocate(capacity: max(n, 1))
        convert(x, to: y, count: n)
        return y
    }
}
