import Foundation
import Tensors

/// End-diastole or end-systole.
public enum CardiacPhase: String, Sendable, CaseIterable {
    case ed = "ED", es = "ES"
}

/// One synthetic patient's acquisition and anatomy, drawn from (seed, patient index). Lengths in
/// mm; image coordinates x to the right (columns), y down (rows); angles in radians from +x.
public struct PhantomPatient: Sendable {
    public let id: String
    /// ACDC pathology group (NOR, MINF, DCM, HCM, RV): sets cavity size, wall and ejection fraction.
    public let group: String
    public let width: Int
    public let height: Int
    public let depth: Int
    public let pixelSpacing: Double
    public let sliceThickness: Double
    public let edFrame: Int
    public let esFrame: Int
    public let frameCount: Int
    public let heightCm: Double
    public let weightKg: Double

    // Left ventricle at the base, end-diastole.
    let centre: SIMD2<Float>              // heart centre relative to the image centre
    let cavityRadius: Float
    let wallThickness: Float
    let ejectionFraction: Float
    let shape: SIMD4<Float>               // a2, phase2, a3, phase3 of the boundary harmonics
    let cavityEnd: Float                  // base-apex position where the cavity closes (slices 0...1)
    // Right ventricle.
    let rvAngle: Float
    let rvDepth: Float
    let rvSpan: Float
    let rvEnd: Float
    let rvEjectionFraction: Float
    // Surroundings and acquisition.
    let bodyAxes: SIMD2<Float>
    let fatThickness: Float
    let intensities: PhantomIntensities
    let bias: SIMD4<Float>                // x, y, x*y, r^2 coefficients of the log bias field
    let noise: Float                      // Rician noise sigma relative to blood
    let scale: Float                      // stored intensity of unit signal
    let sliceShifts: [SIMD2<Float>]       // per-slice breath-hold offsets
    let texture: [SIMD4<Float>]           // low-frequency tissue texture: kx, ky, phase, amplitude
    let stream: CounterRNG                // the patient's random stream (noise draws from sub-streams)

    static let groups = ["NOR", "MINF", "DCM", "HCM", "RV"]

    /// Patient `index` (0-based, named patient<index+1>) of the phantom set with `seed`.
    /// `inPlaneScale` < 1 gives the same anatomy on a coarser matrix (quick tests and demos).
    public init(index: Int, seed: UInt64, inPlaneScale: Double = 1) {
        let rng = CounterRNG(seed: seed).substream(0x5048_414E_544F_4D, UInt64(index))
        stream = rng
        var counter: UInt64 = 0
        func u(_ lo: Float, _ hi: Float) -> Float { counter += 1; return rng.uniform(counter, lo, hi) }
        func pick(_ n: Int) -> Int { min(Int(u(0, Float(n))), n - 1) }

        id = String(format: "patient%03d", index + 1)
        group = Self.groups[index % Self.groups.count]
        width = max(8, Int((Double(144 + 8 * pick(11)) * inPlaneScale).rounded()))
        height = max(8, Int((Double(128 + 8 * pick(11)) * inPlaneScale).rounded()))
        depth = 8 + pick(5)
        pixelSpacing = Double(u(1.3, 1.85)) / inPlaneScale
        sliceThickness = [10, 10, 10, 8, 6.5][pick(5)]
        frameCount = 20 + pick(16)
        edFrame = 1
        esFrame = 9 + pick(min(7, frameCount - 10))
        heightCm = Double(u(150, 195)).rounded()
        weightKg = Double(u(50, 110)).rounded()

        let (radius, wall, ef): (ClosedRange<Float>, ClosedRange<Float>, ClosedRange<Float>)
        switch group {
        case "DCM": (radius, wall, ef) = (29...35, 5.5...7.5, 0.12...0.35)
        case "HCM": (radius, wall, ef) = (17...22, 13...18, 0.62...0.8)
        case "MINF": (radius, wall, ef) = (25...31, 6...9, 0.25...0.45)
        default: (radius, wall, ef) = (22...27, 7...10, 0.55...0.7)
        }
        centre = SIMD2(u(-15, 15), u(-15, 10))
        cavityRadius = u(radius.lowerBound, radius.upperBound)
        wallThickness = u(wall.lowerBound, wall.upperBound)
        ejectionFraction = u(ef.lowerBound, ef.upperBound)
        shape = SIMD4(u(0, 0.08), u(0, 6.28), u(0, 0.05), u(0, 6.28))
        cavityEnd = u(0.92, 1.05)
        rvAngle = Float.pi + u(-0.15, 0.5)
        let rvScale: Float = group == "RV" ? 1.6 : 1
        rvDepth = u(14, 22) * rvScale
        rvSpan = u(1.15, 1.45)
        rvEnd = u(0.7, 0.9)
        rvEjectionFraction = group == "RV" ? u(0.15, 0.35) : u(0.45, 0.65)

        let fov = SIMD2(Float(width), Float(height)) * Float(pixelSpacing)
        bodyAxes = fov * SIMD2(u(0.42, 0.6), u(0.38, 0.55))
        fatThickness = u(6, 15)
        intensities = PhantomIntensities(blood: u(0.8, 1), myocardium: u(0.18, 0.3), tissue: u(0.3, 0.45),
                                         fat: u(0.65, 0.85), lung: u(0.03, 0.08), liver: u(0.28, 0.4))
        bias = SIMD4(u(-0.25, 0.25), u(-0.25, 0.25), u(-0.15, 0.15), u(-0.35, 0.05))
        noise = u(0.015, 0.05)
        scale = u(250, 900)
        sliceShifts = (0..<depth).map { _ in SIMD2(u(-1.5, 1.5), u(-1.5, 1.5)) }
        texture = (0..<3).map { _ in SIMD4(u(0.02, 0.08), u(0.02, 0.08), u(0, 6.28), u(0.03, 0.08)) }
    }
}

/// Relative signal of each tissue (bSSFP cine: bright blood, dark myocardium).
struct PhantomIntensities: Sendable {
    let blood: Float
    let myocardium: Float
    let tissue: Float
    let fat: Float
    let lung: Float
    let liver: Float
}
