// Segmentation metrics per volume with voxel spacing: Dice, ASSD, HD95 (DESIGN §3.7).
//
// Layout legend for every buffer in this module: a volume is Z x Y x X voxels stored C order
// (x fastest), voxel (z, y, x) at `(z * Y + y) * X + x`; spacing is given per axis in the same
// (z, y, x) order, in millimetres. Masks are `UInt8`, any non-zero value is foreground.
//
// Entry points: `VolumeEvaluator` (multi-class, per volume; its doc comment states the empty-mask
// rules), `BinaryMetrics` (one binary pair), `SurfaceDistances` (medpy's surface distances),
// `ScoreSummary` (aggregation over volumes and seeds), `ResultsTable` and `ScoreCSV` (output).

/// Extents of a volume in voxels, (z, y, x).
public struct VolumeShape: Codable, Sendable, Equatable, CustomStringConvertible {
    public var z: Int
    public var y: Int
    public var x: Int

    public init(z: Int, y: Int, x: Int) {
        precondition(z >= 0 && y >= 0 && x >= 0, "negative extent \(z)x\(y)x\(x)")
        self.z = z
        self.y = y
        self.x = x
    }

    public var count: Int { z * y * x }
    public var description: String { "\(z)x\(y)x\(x)" }
}

/// Voxel spacing in millimetres per axis, (z, y, x) like `VolumeShape`.
public struct VoxelSpacing: Codable, Sendable, Equatable, CustomStringConvertible {
    public var z: Double
    public var y: Double
    public var x: Double

    public init(z: Double, y: Double, x: Double) {
        precondition(z > 0 && y > 0 && x > 0, "spacing must be positive, got \(z), \(y), \(x)")
        self.z = z
        self.y = y
        self.x = x
    }

    /// Spacing 1 on every axis: distances in voxels (what AutoSAM's evaluate.py reports).
    public static let unit = VoxelSpacing(z: 1, y: 1, x: 1)

    public var description: String { "\(z)x\(y)x\(x) mm" }
}

/// Which rules turn two masks into numbers (see `VolumeEvaluator` for the full statement).
public enum EvaluationMode: String, Codable, Sendable, CaseIterable {
    /// Ours (DESIGN §3.7): distances in mm with the voxel spacing; both masks empty gives Dice 1
    /// and distances 0; exactly one empty gives Dice 0 and undefined (nil) distances.
    case standard
    /// AutoSAM's `evaluate.py` (ref: xhu248/AutoSAM evaluate.py `dice`, `hd`; fixtures quirk 12):
    /// distances in voxels ignoring the spacing, 0 when either mask is empty, Dice 1 when both are.
    case reference

    /// Unit of the distance metrics this mode reports.
    public var distanceUnit: String { self == .standard ? "mm" : "voxels" }
}
