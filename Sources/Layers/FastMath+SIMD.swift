/// `FastMath.exp` on 16 lanes at once, the same operations lane by lane (same bits as the scalar
/// version), for loops that also reduce: a scalar `s += exp(x)` loop does not vectorise.
extension FastMath {
    @inlinable @inline(__always)
    public static func exp(_ x: SIMD16<Float>) -> SIMD16<Float> {
        let low = SIMD16<Float>(repeating: -87.3365), high = SIMD16<Float>(repeating: 88.3)
        let xc = x.replacing(with: low, where: x .< low).replacing(with: high, where: x .> high)
        let shifter = SIMD16<Float>(repeating: 12_582_912)   // 1.5 * 2^23
        let k = shifter.addingProduct(xc, SIMD16(repeating: 1.442_695_04))
        let n = k - shifter
        let r = xc.addingProduct(n, SIMD16(repeating: -0.693_359_375))
            .addingProduct(n, SIMD16(repeating: 2.121_944_4e-4))
        var p = SIMD16<Float>(repeating: 1.381_314_6e-3)
        p = SIMD16(repeating: 8.369_420_7e-3).addingProduct(p, r)
        p = SIMD16(repeating: 4.166_845_6e-2).addingProduct(p, r)
        p = SIMD16(repeating: 0.166_665_15).addingProduct(p, r)
        p = SIMD16(repeating: 0.499_999_94).addingProduct(p, r)
        let er = r.addingProduct(p, r * r) + 1
        let bits = (unsafeBitCast(k, to: SIMD16<UInt32>.self) &<< 23) &+ SIMD16<UInt32>(repeating: 0x3F80_0000)
        let y = er * unsafeBitCast(bits, to: SIMD16<Float>.self)   // 2^n, n in [-126, 127]
        return y.replacing(with: 0, where: x .< low).replacing(with: .infinity, where: x .> high)
    }
}
