/// Float approximations of `exp`, `erf` and the normal CDF written as straight-line arithmetic
/// (no libm calls, no branches the vectoriser cannot turn into selects, no trapping float-to-int
/// conversions), so that a plain loop calling them auto-vectorises with AVX2/FMA
/// (`-target-cpu x86-64-v3`; PLATFORM.md "Swift performance notes").
///
/// Accuracy (checked against Foundation in Double by `FastMathTests`): `exp` about 2 ulp;
/// `erf` and `normalCDF` a few 1e-7 relative, including the lower tail of `normalCDF`, which is
/// computed as `erfc` directly instead of `1 + erf` (no cancellation).
///
/// The polynomial coefficients were fitted for this file (weighted least squares with Lawson
/// iterations towards minimax relative error, in double precision against mpmath).
public enum FastMath {
    /// `e^x` for `x` in [-87.3365, 88.3]; 0 below (true results there are subnormal), +inf above
    /// (slightly early: the true overflow is at 88.72), NaN for NaN.
    ///
    /// Range reduction `x = n ln2 + r`, |r| <= ln2/2, with `n` rounded by adding 1.5 * 2^23 (the
    /// integer then sits in the low mantissa bits, from which `2^n` is built by a shift); Cody-Waite
    /// split of ln2; `e^r = 1 + r + r^2 P(r)` with a degree-4 P (relative error 3e-9).
    @inlinable @inline(__always)
    public static func exp(_ x: Float) -> Float {
        let low: Float = -87.3365, high: Float = 88.3
        let xc = x < low ? low : (x > high ? high : x)
        let shifter: Float = 12_582_912   // 1.5 * 2^23
        let k = fma(xc, 1.442_695_04, shifter)
        let n = k - shifter
        let r = fma(n, 2.121_944_4e-4, fma(n, -0.693_359_375, xc))
        var p: Float = 1.381_314_6e-3
        p = fma(p, r, 8.369_420_7e-3)
        p = fma(p, r, 4.166_845_6e-2)
        p = fma(p, r, 0.166_665_15)
        p = fma(p, r, 0.499_999_94)
        let er = fma(p, r * r, r) + 1
        let scale = Float(bitPattern: (k.bitPattern &<< 23) &+ 0x3F80_0000)   // 2^n, n in [-126, 127]
        let y = er * scale
        return x < low ? 0 : (x > high ? .infinity : y)
    }

    /// `a * b + c` with one rounding (a vector FMA instruction when built for AVX2/FMA).
    @inlinable @inline(__always)
    static func fma(_ a: Float, _ b: Float, _ c: Float) -> Float { c.addingProduct(a, b) }

    /// `exp(-s v^2)` for `s` = 1 or 1/2, with the rounding error of `v^2` compensated (an FMA gives
    /// the exact residual), so the result keeps its relative accuracy for large |v|. |v| is capped
    /// at 20 (the result is 0 from about 13 on), which keeps infinities from making NaN.
    @inlinable @inline(__always)
    static func expOfNegativeSquare(_ v: Float, times s: Float) -> Float {
        let a = abs(v) > 20 ? 20 : abs(v)
        let square = a * a
        let residual = fma(a, a, -square) * s   // a^2 = square + residual exactly
        return exp(-square * s) * (1 - residual)
    }

    /// `erf(z) = z S(z^2)` for |z| < 0.75 (degree-5 S, relative error 1.4e-9).
    @inlinable @inline(__always)
    static func erfSmall(_ z: Float) -> Float {
        let u = z * z
        var s: Float = -6.749_531e-4
        s = fma(s, u, 5.114_348_6e-3)
        s = fma(s, u, -2.683_462_6e-2)
        s = fma(s, u, 0.112_833_77)
        s = fma(s, u, -0.376_126_2)
        s = fma(s, u, 1.128_379_1)
        return z * s
    }

    /// `erfc(z)` for z >= 0.75 given `e = exp(-z^2)`: `erfc(z) = t Q(t) e` with `t = 1/(1 + z/2)`
    /// and a degree-8 Q (relative error 4.7e-9 over z in [0.75, 10]).
    @inlinable @inline(__always)
    static func erfcLarge(_ z: Float, expOfNegativeSquare e: Float) -> Float {
        let t = 1 / (1 + 0.5 * z)
        var q: Float = -5.258_558_7e-2
        q = fma(q, t, 0.266_639_26)
        q = fma(q, t, -0.469_061_6)
        q = fma(q, t, 0.271_448_85)
        q = fma(q, t, -2.812_358_4e-2)
        q = fma(q, t, 0.204_808_01)
        q = fma(q, t, 0.242_374_99)
        q = fma(q, t, 0.282_485_63)
        q = fma(q, t, 0.282_080_11)
        return t * q * e
    }

    /// The error function, `erf(z) = 2/sqrt(pi) * integral_0^z exp(-t^2) dt`.
    @inlinable @inline(__always)
    public static func erf(_ z: Float) -> Float {
        let a = abs(z)
        let large = 1 - erfcLarge(a, expOfNegativeSquare: expOfNegativeSquare(a, times: 1))
        let signedLarge = z < 0 ? -large : large
        return a < 0.75 ? erfSmall(z) : signedLarge   // 0.75: the switch point of the two fits
    }

    /// Standard normal CDF `Phi(x) = erfc(-x / sqrt 2) / 2`, relatively accurate in the lower tail
    /// (down to Phi ~ 1e-38, about x = -13); `gaussian` must be `exp(-x^2 / 2)` (`gaussianKernel(x)`),
    /// passed in because the GELU backward needs it too. One formula for every x: with a = |x| / sqrt 2,
    /// `erfc(a) = t R(t) exp(-a^2)`, `t = 1/(1 + a/2)`, a degree-8 R fitted over a in [0, 9.55]
    /// (relative error 4e-8 in double, 2e-7 evaluated in float32), and `Phi = erfc(a) / 2` for x < 0,
    /// `1 - erfc(a) / 2` otherwise. No second fit near 0 and no select between two: about a third
    /// fewer operations than `1 + erf` from `erf`'s two branches (one core, 12.6 M elements: GELU
    /// forward 1.46 -> 1.13 ns per element, with its derivative 1.85 -> 1.43).
    @inlinable @inline(__always)
    static func normalCDF(_ x: Float, gaussian: Float) -> Float {
        let a = abs(x) * 0.707_106_78
        let t = 1 / fma(a, 0.5, 1)
        var r: Float = -5.890_997_5e-2
        r = fma(r, t, 0.283_796_1)
        r = fma(r, t, -0.485_579_7)
        r = fma(r, t, 0.276_203_84)
        r = fma(r, t, -2.533_432_8e-2)
        r = fma(r, t, 0.202_136_7)
        r = fma(r, t, 0.243_243_93)
        r = fma(r, t, 0.282_355_87)
        r = fma(r, t, 0.282_087_53)
        let half = (0.5 * t) * r * gaussian
        return x < 0 ? half : 1 - half
    }

    /// `exp(-x^2 / 2)`, compensated for the rounding of `x^2`.
    @inlinable @inline(__always)
    static func gaussianKernel(_ x: Float) -> Float {
        expOfNegativeSquare(x, times: 0.5)
    }

    /// Standard normal CDF `Phi(x) = (1 + erf(x / sqrt 2)) / 2` (see `normalCDF(_:gaussian:)`).
    @inlinable @inline(__always)
    public static func normalCDF(_ x: Float) -> Float {
        normalCDF(x, gaussian: gaussianKernel(x))
    }
}
