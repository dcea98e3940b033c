import Foundation
import Tensors

/// One rendered frame: D x H x W stored intensities (bias field and Rician noise applied, scaled
/// to a scanner-like range) and class indices (0 background, 1 RV, 2 Myo, 3 LV).
public struct PhantomFrame: Sendable {
    public let patient: PhantomPatient
    public let phase: CardiacPhase
    public let image: [Float]
    public let labels: [UInt8]
}

/// The anatomy of one slice in mm, relative to the image centre.
struct PhantomSlice {
    let p: PhantomPatient
    let heart: SIMD2<Float>       // LV centre
    let cavity: Float             // endocardial radius (0: no cavity)
    let epicardium: Float         // epicardial radius (0: no heart)
    let rvCentre: SIMD2<Float>
    let rvAxis: SIMD2<Float>      // unit vector from the LV towards the RV
    let rvDepth: Float            // RV thickness beyond the epicardium (0: no RV)
    let rvReach: Float            // RV ellipse semi-axis along rvAxis
    let rvHalfSpan: Float
    let papillary: [PhantomEllipse]
    let organs: PhantomOrgans
    let harmonics: SIMD4<Float>   // a2 cos, a2 sin, a3 cos, a3 sin of the boundary harmonics' phases
    let edge: Float               // width of the soft edges (one pixel)

    init(patient p: PhantomPatient, phase: CardiacPhase, z: Int) {
        self.p = p
        let t = p.depth > 1 ? Float(z) / Float(p.depth - 1) : 0.5
        edge = Float(p.pixelSpacing)
        func profile(_ end: Float) -> Float { t >= end ? 0 : (1 - pow(t / end, 2.5)).squareRoot() }
        let contracted = phase == .es
        let rc0 = contracted ? p.cavityRadius * ((1 - p.ejectionFraction) / 0.9).squareRoot() : p.cavityRadius
        let edOuter = p.cavityRadius + p.wallThickness
        let re0 = (rc0 * rc0 + edOuter * edOuter - p.cavityRadius * p.cavityRadius).squareRoot()
        cavity = rc0 * profile(p.cavityEnd)
        epicardium = max(re0 * profile(p.cavityEnd + 0.15), cavity > 0 ? cavity + 0.5 * p.wallThickness : 0)
        let lvCentre = p.centre + p.sliceShifts[z] + SIMD2(5, -3) * t
        heart = lvCentre
        rvAxis = SIMD2(cos(p.rvAngle), sin(p.rvAngle))
        rvDepth = p.rvDepth * profile(p.rvEnd) * (contracted ? (1 - p.rvEjectionFraction).squareRoot() : 1)
        rvHalfSpan = p.rvSpan * re0
        // An ellipse reaching rvDepth beyond the epicardium, cut by the LV: a crescent with horns.
        rvCentre = lvCentre + 0.55 * epicardium * rvAxis
        rvReach = 0.45 * epicardium + rvDepth
        let hasPapillary = t > 0.2 && t < 0.75 && cavity > 8
        let lateral = p.rvAngle + Float.pi
        let reach = cavity * (contracted ? 0.45 : 0.62)
        let papillaryRadius: Float = contracted ? 3.5 : 2.5
        papillary = hasPapillary ? [lateral - 0.9, lateral + 0.9].map {
            PhantomEllipse(lvCentre + reach * SIMD2(cos($0), sin($0)), SIMD2(repeating: papillaryRadius))
        } : []
        organs = PhantomOrgans(patient: p, heart: lvCentre, level: t)
        let s = p.shape
        harmonics = SIMD4(s[0] * cos(s[1]), s[0] * sin(s[1]), s[2] * cos(s[3]), s[2] * sin(s[3]))
    }

    /// Partial-volume weight of being inside a boundary at signed distance `d` (negative inside).
    @inline(__always)
    func inside(_ d: Float) -> Float { min(max(0.5 - d / edge, 0), 1) }

    /// Noise-free signal and label at (x, y) (mm from the image centre). Scalar arithmetic only.
    func shade(x: Float, y: Float, texture: Float) -> (Float, UInt8) {
        let c = p.intensities
        let body = inside(organs.body.distance(x, y)), inner = inside(organs.innerBody.distance(x, y))
        var v = c.tissue * (1 + texture) * body
        v += (c.fat - v) * body * (1 - inner)
        let lungs = inside(min(organs.rightLung.distance(x, y), organs.leftLung.distance(x, y)))
        v += (c.lung - v) * lungs * inner
        v += (c.liver * (1 + texture) - v) * inside(organs.liver.distance(x, y)) * inner
        v += (c.blood - v) * inside(organs.aorta.distance(x, y)) * inner
        v += (0.25 - v) * inside(organs.spine.distance(x, y)) * inner
        guard epicardium > 0 else { return (v, 0) }
        let dx = x - heart.x, dy = y - heart.y
        let rho = (dx * dx + dy * dy).squareRoot()
        let ux = rho > 1e-3 ? dx / rho : 1, uy = rho > 1e-3 ? dy / rho : 0
        let h = harmonics[0] * (ux * ux - uy * uy) + harmonics[1] * (2 * ux * uy)
            + harmonics[2] * (ux * (4 * ux * ux - 3)) + harmonics[3] * (uy * (3 - 4 * uy * uy))
        let epi = epicardium * (1 + 0.5 * h)
        v += (c.fat * 0.9 - v) * 0.7 * inside(rho - epi - 2.5)
        var label: UInt8 = 0
        if rvDepth > 0 {
            let rx = x - rvCentre.x, ry = y - rvCentre.y
            let along = (rx * rvAxis.x + ry * rvAxis.y) / rvReach
            let across = (rx * rvAxis.y - ry * rvAxis.x) / rvHalfSpan
            let rv = inside(((along * along + across * across).squareRoot() - 1) * min(rvReach, rvHalfSpan))
                * inside(epi + 0.5 - rho)
            v += (c.blood * 0.95 - v) * rv
            if rv > 0.5 { label = 1 }
        }
        let myo = inside(rho - epi)
        v += (c.myocardium - v) * myo
        if myo > 0.5 { label = 2 }
        guard cavity > 0 else { return (v, label) }
        let lv = inside(rho - cavity * (1 + h))
        v += (c.blood - v) * lv
        if lv > 0.5 { label = 3 }
        for m in papillary {
            v += (c.myocardium - v) * inside(m.distance(x, y)) * lv
        }
        return (v, label)
    }
}

/// An axis-aligned ellipse with an approximate signed distance (mm, negative inside).
struct PhantomEllipse {
    let cx: Float, cy: Float, ax: Float, ay: Float

    init(_ centre: SIMD2<Float>, _ axes: SIMD2<Float>) {
        (cx, cy, ax, ay) = (centre.x, centre.y, axes.x, axes.y)
    }

    @inline(__always)
    func distance(_ x: Float, _ y: Float) -> Float {
        let u = (x - cx) / ax, v = (y - cy) / ay
        return ((u * u + v * v).squareRoot() - 1) * min(ax, ay)
    }
}

/// The non-cardiac structures of a slice.
struct PhantomOrgans {
    let body, innerBody, rightLung, leftLung, liver, aorta, spine: PhantomEllipse

    init(patient p: PhantomPatient, heart: SIMD2<Float>, level: Float) {
        body = PhantomEllipse(.zero, p.bodyAxes)
        innerBody = PhantomEllipse(.zero, p.bodyAxes - p.fatThickness)
        rightLung = PhantomEllipse(heart + SIMD2(-52, -28), SIMD2(30, 38))
        leftLung = PhantomEllipse(heart + SIMD2(48, -38), SIMD2(28, 34))
        liver = PhantomEllipse(heart + SIMD2(-35, 70 - 25 * level), SIMD2(70, 40))
        aorta = PhantomEllipse(heart + SIMD2(28, 48), SIMD2(11, 11))
        spine = PhantomEllipse(heart + SIMD2(5, 82), SIMD2(16, 14))
    }
}

extension PhantomFrame {
    /// Renders every slice of `patient` at `phase`.
    public init(patient p: PhantomPatient, phase: CardiacPhase) {
        let w = p.width, h = p.height, plane = w * h
        var image = [Float](repeating: 0, count: plane * p.depth)
        var labels = [UInt8](repeating: 0, count: plane * p.depth)
        let s = Float(p.pixelSpacing)
        let xs = (0..<w).map { (Float($0) - Float(w - 1) / 2) * s }
        let ys = (0..<h).map { (Float($0) - Float(h - 1) / 2) * s }
        let fovX = Float(w) * s, fovY = Float(h) * s, bias = p.bias
        image.withUnsafeMutableBufferPointer { img in
            labels.withUnsafeMutableBufferPointer { lab in
                for z in 0..<p.depth {
                    let slice = PhantomSlice(patient: p, phase: phase, z: z)
                    let noise = p.stream.substream(phase == .ed ? 1 : 2, UInt64(z))
                    let tx = p.texture.map { k in xs.map { SIMD2(cos(k.x * $0 + k.z), sin(k.x * $0 + k.z)) * k.w } }
                    let ty = p.texture.map { k in ys.map { SIMD2(cos(k.y * $0), -sin(k.y * $0)) } }
                    for y in 0..<h {
                        for x in 0..<w {
                            var texture: Float = 0
                            for k in 0..<tx.count { texture += tx[k][x].x * ty[k][y].x + tx[k][x].y * ty[k][y].y }
                            let (v, label) = slice.shade(x: xs[x], y: ys[y], texture: texture)
                            let bx = xs[x] / fovX, by = ys[y] / fovY
                            let bias = exp(2 * bias.x * bx + 2 * bias.y * by + 4 * bias.z * bx * by
                                           + 4 * bias.w * (bx * bx + by * by))
                            let i = z &* plane &+ y &* w &+ x
                            let draw = noise.philox(counter: UInt64(y &* w &+ x))
                            img[i] = Self.rician(v * bias, sigma: p.noise, draw) * p.scale
                            lab[i] = label
                        }
                    }
                }
            }
        }
        self.init(patient: p, phase: phase, image: image, labels: labels)
    }

    /// |signal + n1 + i n2| with n1, n2 ~ N(0, sigma) from one Philox block (Box-Muller).
    @inline(__always)
    static func rician(_ signal: Float, sigma: Float, _ block: (UInt32, UInt32, UInt32, UInt32)) -> Float {
        let u1 = (Float(block.0 >> 8) + 0.5) * (1 / 16_777_216), u2 = Float(block.1 >> 8) * (1 / 16_777_216)
        let r = sigma * (-2 * log(u1)).squareRoot(), angle = 2 * Float.pi * u2
        let re = signal + r * cos(angle), im = r * sin(angle)
        return (re * re + im * im).squareRoot()
    }
}
