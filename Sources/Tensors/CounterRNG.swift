import Foundation

/// Counter-based random numbers (Philox4x32-10, Salmon et al. 2011): value `i` of a stream is a
/// pure function of (seed, stream, i). No state advances, so a sample's augmentation is the same
/// whichever rank draws it and in whatever order, and resuming needs only counters (DESIGN §2).
///
/// Element `i` is 32-bit word `i % 4` of the Philox block at counter `i / 4`.
public struct CounterRNG: Sendable, Equatable {
    public let seed: UInt64
    public let stream: UInt64

    public init(seed: UInt64, stream: UInt64 = 0) {
        self.seed = seed
        self.stream = stream
    }

    /// A generator for a sub-stream named by `parts` (for example epoch and slice id), mixed into
    /// this stream with SplitMix64 so distinct part lists give unrelated streams.
    public func substream(_ parts: UInt64...) -> CounterRNG {
        var h = CounterRNG.mix(stream &+ 0x9E37_79B9_7F4A_7C15)
        for p in parts { h = CounterRNG.mix(h ^ CounterRNG.mix(p &+ 0x632B_E59B_D9B4_E019)) }
        return CounterRNG(seed: seed, stream: h)
    }

    /// The 32 random bits of element `index`.
    @inline(__always)
    public func bits(_ index: UInt64) -> UInt32 {
        let block = philox(counter: index >> 2)
        switch index & 3 {
        case 0: return block.0
        case 1: return block.1
        case 2: return block.2
        default: return block.3
        }
    }

    /// Uniform in [0, 1) with 24 bits of resolution.
    @inline(__always)
    public func uniform(_ index: UInt64) -> Float {
        Float(bits(index) >> 8) * (1.0 / 16_777_216.0)
    }

    /// Uniform in [low, high).
    public func uniform(_ index: UInt64, _ low: Float, _ high: Float) -> Float {
        low + (high - low) * uniform(index)
    }

    /// Standard normal number `index` of the normal sequence: Box-Muller on two 53-bit uniforms
    /// taken from Philox block `index` (a sequence separate from `uniform`'s elements).
    public func normal(_ index: UInt64) -> Float {
        let block = philox(counter: index)
        let u1 = (Double(UInt64(block.0) << 21 ^ UInt64(block.1 >> 11)) + 0.5) / 9_007_199_254_740_992.0
        let u2 = Double(UInt64(block.2) << 21 ^ UInt64(block.3 >> 11)) / 9_007_199_254_740_992.0
        return Float((-2.0 * Foundation.log(u1)).squareRoot() * Foundation.cos(2.0 * Double.pi * u2))
    }

    /// `count` uniforms in [low, high), elements `start ..< start + count`.
    public func uniforms(_ count: Int, start: UInt64 = 0, low: Float = 0, high: Float = 1) -> [Float] {
        (0..<count).map { uniform(start + UInt64($0), low, high) }
    }

    /// `count` normals with mean and std, normal elements `start ..< start + count`.
    public func normals(_ count: Int, start: UInt64 = 0, mean: Float = 0, std: Float = 1) -> [Float] {
        (0..<count).map { mean + std * normal(start + UInt64($0)) }
    }

    /// A uniformly random permutation of 0..<n (Fisher-Yates driven by elements 0..<n-1).
    public func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        var i = n - 1
        while i > 0 {
            let j = Int(uniformInt(UInt64(n - 1 - i), below: UInt64(i + 1)))
            p.swapAt(i, j)
            i -= 1
        }
        return p
    }

    /// Integer in 0..<bound from element `index` (64 bits from one block, negligible bias).
    public func uniformInt(_ index: UInt64, below bound: UInt64) -> UInt64 {
        precondition(bound > 0)
        let block = philox(counter: index)
        let x = UInt64(block.0) << 32 | UInt64(block.1)
        return x.multipliedFullWidth(by: bound).high
    }

    // MARK: Philox4x32-10

    /// The raw Philox block for a 64-bit counter (words 0-1 counter, words 2-3 stream; key = seed).
    @inline(__always)
    public func philox(counter: UInt64) -> (UInt32, UInt32, UInt32, UInt32) {
        var c0 = UInt32(truncatingIfNeeded: counter), c1 = UInt32(truncatingIfNeeded: counter >> 32)
        var c2 = UInt32(truncatingIfNeeded: stream), c3 = UInt32(truncatingIfNeeded: stream >> 32)
        var k0 = UInt32(truncatingIfNeeded: seed), k1 = UInt32(truncatingIfNeeded: seed >> 32)
        for _ in 0..<10 {
            let p0 = UInt64(0xD251_1F53) &* UInt64(c0)
            let p1 = UInt64(0xCD9E_8D57) &* UInt64(c2)
            let hi0 = UInt32(p0 >> 32), lo0 = UInt32(truncatingIfNeeded: p0)
            let hi1 = UInt32(p1 >> 32), lo1 = UInt32(truncatingIfNeeded: p1)
            (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)
            k0 &+= 0x9E37_79B9
            k1 &+= 0xBB67_AE85
        }
        return (c0, c1, c2, c3)
    }

    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
