/// The per-class metrics we report.
public enum Metric: String, Codable, Sendable, CaseIterable {
    case dice, assd, hd95, hd

    /// Column title, e.g. "Dice", "ASSD".
    public var title: String {
        switch self {
        case .dice: return "Dice"
        case .assd: return "ASSD"
        case .hd95: return "HD95"
        case .hd: return "HD"
        }
    }
}

/// Scores of one binary pair (one class of one volume). Distances are nil when undefined
/// (standard mode, exactly one mask empty); units as the `EvaluationMode` says.
public struct ClassScores: Codable, Sendable, Equatable {
    public var dice: Double
    public var assd: Double?
    public var hd95: Double?
    public var hd: Double?
    /// Foreground voxels in the prediction and in the reference.
    public var predictedVoxels: Int
    public var referenceVoxels: Int

    public init(dice: Double, assd: Double?, hd95: Double?, hd: Double?, predictedVoxels: Int, referenceVoxels: Int) {
        self.dice = dice
        self.assd = assd
        self.hd95 = hd95
        self.hd = hd
        self.predictedVoxels = predictedVoxels
        self.referenceVoxels = referenceVoxels
    }

    public subscript(metric: Metric) -> Double? {
        switch metric {
        case .dice: return dice
        case .assd: return assd
        case .hd95: return hd95
        case .hd: return hd
        }
    }
}

/// Metrics of one binary prediction against its reference mask.
///
/// Shapes: prediction, reference (Z, Y, X), `shape.count` voxels, non-zero = foreground.
public enum BinaryMetrics {
    /// medpy 0.5.2 `dc`: `2 |P & R| / (|P| + |R|)`; nil when both are empty (medpy returns NaN,
    /// fixtures quirk 16).
    public static func dice(_ prediction: UnsafePointer<UInt8>, _ reference: UnsafePointer<UInt8>,
                            voxels n: Int) -> Double? {
        let c = counts(prediction, reference, voxels: n)
        return c.predicted + c.reference == 0 ? nil : diceValue(c)
    }

    /// Dice, ASSD, HD95 and HD of one pair under `mode`'s rules (`VolumeEvaluator` states them).
    public static func evaluate(prediction: UnsafePointer<UInt8>, reference: UnsafePointer<UInt8>,
                                shape: VolumeShape, spacing: VoxelSpacing, mode: EvaluationMode) -> ClassScores {
        let c = counts(prediction, reference, voxels: shape.count)
        if c.predicted == 0 || c.reference == 0 {
            let bothEmpty = c.predicted == 0 && c.reference == 0
            let distance: Double? = bothEmpty || mode == .reference ? 0 : nil
            return ClassScores(dice: bothEmpty ? 1 : 0, assd: distance, hd95: distance, hd: distance,
                               predictedVoxels: c.predicted, referenceVoxels: c.reference)
        }
        let d = SurfaceDistances(prediction, reference, shape: shape,
                                 spacing: mode == .standard ? spacing : .unit)!
        return ClassScores(dice: diceValue(c), assd: d.assd, hd95: d.hd95, hd: d.hd,
                           predictedVoxels: c.predicted, referenceVoxels: c.reference)
    }

    private struct Counts {
        var predicted = 0
        var reference = 0
        var overlap = 0
    }

    private static func counts(_ p: UnsafePointer<UInt8>, _ r: UnsafePointer<UInt8>, voxels n: Int) -> Counts {
        var c = Counts()
        for i in 0..<n {
            let inP = p[i] != 0
            let inR = r[i] != 0
            if inP { c.predicted &+= 1 }
            if inR { c.reference &+= 1 }
            if inP && inR { c.overlap &+= 1 }
        }
        return c
    }

    /// medpy: `2. * intersection / float(size_i1 + size_i2)`.
    private static func diceValue(_ c: Counts) -> Double {
        2.0 * Double(c.overlap) / Double(c.predicted + c.reference)
    }
}
