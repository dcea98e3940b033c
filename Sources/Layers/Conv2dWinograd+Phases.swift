extension Conv2dWinograd {
    /// phases (m, P) <- `phases[p, q] = row[m*q + p + offset]`, zero outside 0..<width or when row is nil.
    /// m = 2 and 4 de-interleave eight columns per phase at a time (a 16- or 32-float load and a
    /// shuffle) while the load stays inside the row; the rest column by column.
    @inline(__always)
    static func loadPhases(
        _ phases: UnsafeMutablePointer<Float>, row: UnsafePointer<Float>?, width: Int, m: Int, phase: Int, offset: Int
    ) {
        guard let row else { return phases.update(repeating: 0, count: m * phase) }
        for p in 0..<m {
            let dst = phases + p * phase, s = p + offset
            let lo = s >= 0 ? 0 : (m - 1 - s) / m
            let hi = max(lo, min(phase, (width - s + m - 1) / m))
            dst.update(repeating: 0, count: lo)
            var q = lo
            if m == 2 {
                while q + 8 <= hi && 2 &* q &+ s &+ 16 <= width {
                    let v = UnsafeRawPointer(row + (2 &* q &+ s)).loadUnaligned(as: SIMD16<Float>.self)
                    store(v.evenHalf, dst, q)
                    q += 8
                }
            } else if m == 4 {
                while q + 8 <= hi && 4 &* q &+ s &+ 32 <= width {
                    let v = UnsafeRawPointer(row + (4 &* q &+ s)).loadUnaligned(as: SIMD32<Float>.self)
                    store(v.evenHalf.evenHalf, dst, q)
                    q += 8
                }
            }
            while q < hi {
                dst[q] = row[m &* q &+ s]
                q += 1
            }
            (dst + hi).update(repeating: 0, count: phase - hi)
        }
    }

    /// row[m*q + p] = phases[p, q] + bias for the columns m*q + p < width. phases (m, P).
    /// m = 2 and 4 interleave eight columns of every phase at a time while they all fall inside the row.
    @inline(__always)
    static func storePhases(
        _ row: UnsafeMutablePointer<Float>, _ phases: UnsafePointer<Float>, width: Int, m: Int, phase: Int,
        bias: Float
    ) {
        var start = 0
        if m == 2 {
            while 2 &* (start &+ 8) <= width {
                var r = SIMD16<Float>()
                r.evenHalf = load(phases, start) + bias
                r.oddHalf = load(phases + phase, start) + bias
                UnsafeMutableRawPointer(row + 2 &* start).storeBytes(of: r, as: SIMD16<Float>.self)
                start += 8
            }
        } else if m == 4 {
            while 4 &* (start &+ 8) <= width {
                var even = SIMD16<Float>(), odd = SIMD16<Float>(), r = SIMD32<Float>()
                even.evenHalf = load(phases, start) + bias
                even.oddHalf = load(phases + 2 &* phase, start) + bias
                odd.evenHalf = load(phases + phase, start) + bias
                odd.oddHalf = load(phases + 3 &* phase, start) + bias
                r.evenHalf = even
                r.oddHalf = odd
                UnsafeMutableRawPointer(row + 4 &* start).storeBytes(of: r, as: SIMD32<Float>.self)
                start += 8
            }
        }
        for p in 0..<m {
            let src = phases + p * phase, count = (width - p + m - 1) / m
            for q in start..<max(start, count) { row[m &* q &+ p] = src[q] + bias }
        }
    }

    /// row[e] += line[e] for e in 0..<count.
    @inline(__always)
    static func addRow(_ row: UnsafeMutablePointer<Float>, _ line: UnsafePointer<Float>, count: Int) {
        var e = 0
        while e + Lanes.scalarCount <= count {
            store(load(row, e) + load(line, e), row, e)
            e += Lanes.scalarCount
        }
        while e < count {
            row[e] += line[e]
            e += 1
        }
    }
}
