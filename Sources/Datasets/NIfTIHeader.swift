import Foundation

/// Voxel datatypes we read and write (NIfTI-1 `datatype` codes). Others are rejected by name.
/// Every real scalar type of NIfTI-1 is read (MRI volumes are often uint16, label maps int8 or
/// uint16); values become Float32 (exact up to 2^24 in magnitude, rounded to nearest above).
public enum NIfTIDatatype: Int16, Sendable, CaseIterable, Codable {
    case uint8 = 2, int16 = 4, int32 = 8, float32 = 16, float64 = 64
    case int8 = 256, uint16 = 512, uint32 = 768, int64 = 1024, uint64 = 1280

    public var byteSize: Int {
        switch self {
        case .uint8, .int8: return 1
        case .int16, .uint16: return 2
        case .int32, .uint32, .float32: return 4
        case .int64, .uint64, .float64: return 8
        }
    }

    public var isInteger: Bool { integerRange != nil }

    /// The representable range of an integer type (nil for floats). The 64-bit bounds are the
    /// largest doubles inside the type (2^63 and 2^64 themselves are not).
    var integerRange: ClosedRange<Double>? {
        switch self {
        case .uint8: return 0...255
        case .int8: return -128...127
        case .int16: return -32768...32767
        case .uint16: return 0...65535
        case .int32: return -2_147_483_648...2_147_483_647
        case .uint32: return 0...4_294_967_295
        case .int64: return -9_223_372_036_854_775_808...9_223_372_036_854_774_784
        case .uint64: return 0...18_446_744_073_709_549_568
        case .float32, .float64: return nil
        }
    }

    /// Names of the NIfTI-1 codes we do not support, for error messages.
    static func name(ofCode code: Int16) -> String {
        let names: [Int16: String] = [1: "binary", 32: "complex64", 128: "rgb24", 1536: "float128",
                                      1792: "complex128", 2048: "complex256", 2304: "rgba32"]
        return names[code] ?? "unknown"
    }

    /// "uint8, int8, ..." for error messages.
    static var supportedNames: String { allCases.map { "\($0)" }.joined(separator: ", ") }
}

/// The NIfTI-1 header fields that carry meaning (the 348-byte `nifti_1_header`; ANALYZE-only
/// fields are written as zero). Geometry (qform, sform, pixdim) is kept verbatim so an output
/// written from an input's header carries the input's affine.
public struct NIfTIHeader: Equatable, Sendable {
    public static let size = 348

    public var dimInfo: UInt8 = 0
    /// dim[0] = number of dimensions, dim[1...7] = sizes.
    public var dim: [Int16] = [3, 1, 1, 1, 1, 1, 1, 1]
    public var intentP: [Float] = [0, 0, 0]
    public var intentCode: Int16 = 0
    public var datatype: NIfTIDatatype = .float32
    public var sliceStart: Int16 = 0
    /// pixdim[0] = qfac (+1 or -1), pixdim[1...3] = voxel spacing (mm), pixdim[4] = time step.
    public var pixdim: [Float] = [1, 1, 1, 1, 0, 0, 0, 0]
    public var voxOffset: Float = 352
    /// Stored value v becomes v * sclSlope + sclInter; slope 0 means no scaling.
    public var sclSlope: Float = 1
    public var sclInter: Float = 0
    public var sliceEnd: Int16 = 0
    public var sliceCode: UInt8 = 0
    /// Units: 2 = mm (space), 8 = s (time).
    public var xyztUnits: UInt8 = 10
    public var calMax: Float = 0
    public var calMin: Float = 0
    public var sliceDuration: Float = 0
    public var toffset: Float = 0
    public var descrip = ""
    public var auxFile = ""
    public var qformCode: Int16 = 0
    public var sformCode: Int16 = 0
    /// Quaternion b, c, d of the qform rotation.
    public var quatern: [Float] = [0, 0, 0]
    public var qoffset: [Float] = [0, 0, 0]
    /// The three rows of the sform affine (4 values each).
    public var srow: [[Float]] = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]]
    public var intentName = ""

    /// A header for a new image: sizes `shape` (x fastest), voxel spacing `spacing` in mm, a
    /// scanner-frame qform and sform that are both the diagonal spacing matrix at the origin.
    public init(shape: [Int], spacing: [Double], datatype: NIfTIDatatype) {
        precondition((1...7).contains(shape.count) && spacing.count == shape.count,
                     "shape \(shape), spacing \(spacing)")
        dim = [Int16(shape.count)] + shape.map { Int16($0) } + [Int16](repeating: 1, count: 7 - shape.count)
        pixdim = [1] + spacing.map(Float.init) + [Float](repeating: 0, count: 7 - spacing.count)
        self.datatype = datatype
        qformCode = 1
        sformCode = 1
        for r in 0..<min(3, shape.count) { srow[r][r] = Float(spacing[r]) }
    }

    /// Image sizes dim[1...dim[0]].
    public var shape: [Int] { (1...Int(dim[0])).map { Int(dim[$0]) } }

    /// Voxel spacing pixdim[1...dim[0]] (absolute values, mm for the spatial axes).
    public var spacing: [Double] { (1...Int(dim[0])).map { Double(abs(pixdim[$0])) } }

    /// The 4x4 voxel-to-world affine (row-major): the sform if sform_code > 0, else the qform if
    /// qform_code > 0, else the ANALYZE diagonal of pixdim (NIfTI-1 methods 3, 2, 1).
    public var affine: [[Double]] {
        if sformCode > 0 { return srow.map { $0.map(Double.init) } + [[0, 0, 0, 1]] }
        let dx = Double(pixdim[1]), dy = Double(pixdim[2]), dz = Double(pixdim[3])
        guard qformCode > 0 else { return [[dx, 0, 0, 0], [0, dy, 0, 0], [0, 0, dz, 0], [0, 0, 0, 1]] }
        let b = Double(quatern[0]), c = Double(quatern[1]), d = Double(quatern[2])
        let a = max(0, 1 - (b * b + c * c + d * d)).squareRoot()
        let qfac = pixdim[0] < 0 ? -1.0 : 1.0
        let aa = a * a, bb = b * b, cc = c * c, dd = d * d
        let r0: [Double] = [aa + bb - cc - dd, 2 * (b * c - a * d), 2 * (b * d + a * c)]
        let r1: [Double] = [2 * (b * c + a * d), aa + cc - bb - dd, 2 * (c * d - a * b)]
        let r2: [Double] = [2 * (b * d - a * c), 2 * (c * d + a * b), aa + dd - cc - bb]
        var rows: [[Double]] = []
        for (i, r) in [r0, r1, r2].enumerated() {
            rows.append([r[0] * dx, r[1] * dy, r[2] * dz * qfac, Double(qoffset[i])])
        }
        return rows + [[0, 0, 0, 1]]
    }

    /// Scaling actually applied to stored values: (slope, intercept), identity when slope is 0 or not finite.
    public var scaling: (slope: Double, intercept: Double) {
        guard sclSlope != 0, sclSlope.isFinite, sclInter.isFinite else { return (1, 0) }
        return (Double(sclSlope), Double(sclInter))
    }
}
