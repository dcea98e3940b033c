// Writing a NIfTI-1 header: the inverse of NIfTIHeader+Reading.swift for the fields we keep;
// ANALYZE-only fields are written as zero.

extension NIfTIHeader {
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
