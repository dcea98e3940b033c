import Foundation

// Reading a NIfTI-1 header: the 348 bytes parsed in the file's byte order, with every field
// that decides how the voxels are read validated (sizes, datatype, vox_offset, magic) so that a
// damaged or unsupported file fails by name before any voxel is touched. Writing is in
// NIfTIHeader+Writing.swift.

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
                               + "supported: \(NIfTIDatatype.supportedNames)")
        }
        h.datatype = datatype
        let bitpix = r.i16(72)
        guard Int(bitpix) == datatype.byteSize * 8 else {
            throw DatasetError(file: file, .corrupt, "bitpix \(bitpix) does not match datatype \(datatype) "
                                                     + "(\(datatype.byteSize * 8))")
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
            throw DatasetError(file: file, .corrupt,
                               "vox_offset is \(voxOffset), expected 352...\(Int(Self.maxVoxOffset)) "
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
}
