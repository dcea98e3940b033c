import Foundation

/// Voxel datatypes we read and write (NIfTI-1 `datatype` codes). Others are rejected by name.
public enum NIfTIDatatype: Int16, Sendable, CaseIterable, Codable {
    case uint8 = 2, int16 = 4, int32 = 8, float32 = 16, float64 = 64

    public var byteSize: Int {
        switch self {
        case .uint8: return 1
        case .int16: return 2
        case .int32, .float32: return 4
        case .float64: return 8
        }
    }

    public var isInteger: Bool { self == .uint8 || self == .int16 || self == .int32 }

    /// The representable range of an integer type (nil for floats).
    var integerRange: ClosedRange<Double>? {
        switch self {
        case .uint8: return 0...255
        case .int16: return -32768...32767
        case .int32: return -2_147_483_648...2_147_483_647
        case .float32, .float64: return nil
        }
    }

    /// Names of the NIfTI-1 codes we do not support, for error messages.
    static func name(ofCode code: Int16) -> String {
        let names: [Int16: String] = [1: "binary", 32: "complex64", 128: "rgb24", 256: "int8", 512: "uint16",
                                      768: "uint32", 1024: "int64", 1280: "uint64", 1536: "float128",
                                      1792: "complex128", 2048: "complex256", 2304: "rgba32"]
        return names[code] ?? "unknown"
    }
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
        precondition((1...7).contains(shape.count) && spacing.count == shape.count, "shape \(shape), spacing \(spacing)")
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

extension NIfTIHeader {
    /// Where the voxels lie in the (uncompressed) file: `count` values of `datatype` from byte
    /// `offset` up to byte `end`.
    typealias DataExtent = (offset: Int, count: Int, end: Int)

    /// Parses and validates the first 348 bytes of `bytes`; returns the header, the file's byte
    /// order and where its voxels lie.
    static func parse(_ bytes: UnsafeRawBufferPointer, file: String) throws -> (NIfTIHeader, ByteOrder, DataExtent) {
        guard bytes.count >= size else {
            throw DatasetError(file: file, .truncated, "\(bytes.count) bytes, a NIfTI-1 header needs 348")
        }
        let order = try byteOrder(bytes, file: file)
        let r = ByteReader(bytes: bytes, order: order)
        var h = NIfTIHeader(shape: [1], spacing: [1], datatype: .float32)
        h.dimInfo = r.u8(39)
        h.dim = (0..<8).map { r.i16(40 + 2 * $0) }
        try validateDims(h.dim, file: file)
        h.intentP = (0..<3).map { r.f32(56 + 4 * $0) }
        h.intentCode = r.i16(68)
        let code = r.i16(70)
        guard let datatype = NIfTIDatatype(rawValue: code) else {
            throw DatasetError(file: file, .unsupported,
                               "datatype \(code) (\(NIfTIDatatype.name(ofCode: code))) is not supported; "
                               + "supported: uint8, int16, int32, float32, float64")
        }
        h.datatype = datatype
        let bitpix = r.i16(72)
        guard Int(bitpix) == datatype.byteSize * 8 else {
            throw DatasetError(file: file, .corrupt, "bitpix \(bitpix) does not match datatype \(datatype) (\(datatype.byteSize * 8))")
        }
        h.sliceStart = r.i16(74)
        h.pixdim = (0..<8).map { r.f32(76 + 4 * $0) }
        h.voxOffset = r.f32(108)
        h.sclSlope = r.f32(112)
        h.sclInter = r.f32(116)
        h.sliceEnd = r.i16(120)
        h.sliceCode = r.u8(122)
        h.xyztUnits = r.u8(123)
        h.calMax = r.f32(124)
        h.calMin = r.f32(128)
        h.sliceDuration = r.f32(132)
        h.toffset = r.f32(136)
        h.descrip = r.string(148, length: 80)
        h.auxFile = r.string(228, length: 24)
        h.qformCode = r.i16(252)
        h.sformCode = r.i16(254)
        h.quatern = (0..<3).map { r.f32(256 + 4 * $0) }
        h.qoffset = (0..<3).map { r.f32(268 + 4 * $0) }
        h.srow = (0..<3).map { row in (0..<4).map { r.f32(280 + 16 * row + 4 * $0) } }
        h.intentName = r.string(328, length: 16)
        return (h, order, try h.dataExtent(file: file))
    }

    /// The largest vox_offset read: 2^31 bytes (real files put their data at 352 or a few KB later).
    static let maxVoxOffset: Float = 2_147_483_648
    /// The most voxels an image may have: 2^30 (4 GiB as Float32), far more than any MRI volume.
    static let maxVoxels = 1 << 30

    /// The data extent after checking vox_offset (finite, 352...2^31) and the voxel count of the
    /// dims (at most `maxVoxels`), so that the byte range is exact integer arithmetic.
    private func dataExtent(file: String) throws -> DataExtent {
        guard voxOffset.isFinite, voxOffset >= 352, voxOffset <= Self.maxVoxOffset else {
            throw DatasetError(file: file, .corrupt, "vox_offset is \(voxOffset), expected 352...\(Int(Self.maxVoxOffset)) "
                               + "(the data of a single-file NIfTI-1 starts after the 352-byte header)")
        }
        var count = 1
        for n in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: n)
            guard !overflow, product <= Self.maxVoxels else {
                throw DatasetError(file: file, .unsupported, "dim \(shape) gives more than \(Self.maxVoxels) voxels, "
                                   + "the most this reader accepts")
            }
            count = product
        }
        let offset = Int(voxOffset)
        return (offset, count, offset + count * datatype.byteSize)
    }

    /// The byte order in which sizeof_hdr reads 348; the magic must be "n+1".
    private static func byteOrder(_ bytes: UnsafeRawBufferPointer, file: String) throws -> ByteOrder {
        let order: ByteOrder
        if ByteReader(bytes: bytes, order: .little).i32(0) == 348 { order = .little }
        else if ByteReader(bytes: bytes, order: .big).i32(0) == 348 { order = .big }
        else {
            let found = ByteReader(bytes: bytes, order: .little).i32(0)
            let hint = found == 540 || found.byteSwapped == 540 ? " (this is NIfTI-2, which is not supported)" : ""
            throw DatasetError(file: file, found == 540 ? .unsupported : .corrupt,
                               "sizeof_hdr is \(found), expected 348\(hint)")
        }
        let r = ByteReader(bytes: bytes, order: order)
        let magic = r.string(344, length: 4)
        guard magic == "n+1" else {
            let detail = magic == "ni1" ? "a separate .hdr/.img pair (magic ni1) is not supported; convert to .nii"
                                        : "magic is \(String(reflecting: magic)), expected \"n+1\""
            throw DatasetError(file: file, magic == "ni1" ? .unsupported : .corrupt, detail)
        }
        return order
    }

    private static func validateDims(_ dim: [Int16], file: String) throws {
        guard (1...7).contains(dim[0]) else {
            throw DatasetError(file: file, .corrupt, "dim[0] is \(dim[0]), expected 1...7")
        }
        for i in 1...Int(dim[0]) where dim[i] < 1 {
            throw DatasetError(file: file, .corrupt, "dim[\(i)] is \(dim[i]), expected a positive size (dims \(dim))")
        }
    }

    /// The 348 header bytes followed by a zero 4-byte extension flag (data starts at 352).
    func serialised(order: ByteOrder) -> [UInt8] {
        var w = ByteWriter(order: order, capacity: 352)
        w.i32(348)
        w.zeros(10 + 18)           // data_type, db_name
        w.i32(0)                   // extents
        w.i16(0)                   // session_error
        w.u8(UInt8(ascii: "r"))    // regular
        w.u8(dimInfo)
        dim.forEach { w.i16($0) }
        intentP.forEach { w.f32($0) }
        w.i16(intentCode)
        w.i16(datatype.rawValue)
        w.i16(Int16(datatype.byteSize * 8))
        w.i16(sliceStart)
        pixdim.forEach { w.f32($0) }
        w.f32(352)
        w.f32(sclSlope)
        w.f32(sclInter)
        w.i16(sliceEnd)
        w.u8(sliceCode)
        w.u8(xyztUnits)
        [calMax, calMin, sliceDuration, toffset].forEach { w.f32($0) }
        w.i32(0)                   // glmax
        w.i32(0)                   // glmin
        w.string(descrip, length: 80)
        w.string(auxFile, length: 24)
        w.i16(qformCode)
        w.i16(sformCode)
        (quatern + qoffset).forEach { w.f32($0) }
        srow.joined().forEach { w.f32($0) }
        w.string(intentName, length: 16)
        w.string("n+1", length: 4)
        w.zeros(4)                 // extension flag: none
        return w.bytes
    }
}
