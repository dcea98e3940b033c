import Foundation

/// A NIfTI-1 image (`.nii` or `.nii.gz`): its header and its voxel values as Float32 after
/// scl_slope/scl_inter, x fastest (index x + nx * (y + ny * z)).
///
/// Values are held as Float32: 8- and 16-bit integer and float32 voxels are exact; 32- and 64-bit
/// integer magnitudes above 2^24 and float64 values are rounded to the nearest Float32.
public struct NIfTIImage: Sendable {
    public var header: NIfTIHeader
    /// Voxel values, count = product of `header.shape`.
    public var data: [Float]

    public init(header: NIfTIHeader, data: [Float]) {
        precondition(data.count == header.shape.reduce(1, *), "\(data.count) values for shape \(header.shape)")
        self.header = header
        self.data = data
    }

    public var shape: [Int] { header.shape }

    /// Reads `url`, which must be a regular file; gzip is detected from the content, not the name.
    public init(contentsOf url: URL) throws {
        try self.init(bytes: try InputFile.contents(url), file: url.path)
    }

    /// Decodes a complete file's bytes (`file` names it in errors). Allocation is bounded by what
    /// the file holds: the voxel count must fit the (uncompressed) bytes after vox_offset.
    public init(bytes: Data, file: String) throws {
        if Gzip.isCompressed(bytes) {
            (header, data) = try Self.inflated(bytes, file: file).withUnsafeBytes { try Self.decode($0, file: file) }
        } else {
            (header, data) = try bytes.withUnsafeBytes { try Self.decode($0, file: file) }
        }
    }

    /// Bytes a `.nii.gz` may inflate to beyond the end of its voxel data (padding some writers
    /// add); a stream holding more is reported, and is never inflated further.
    static let trailingSlack = 1 << 20

    /// The uncompressed bytes of a `.nii.gz`, inflating no more than its header says the file
    /// holds: the header is inflated first, and the whole stream is then inflated up to the end
    /// of the voxel data plus `trailingSlack`. A header claiming more than the compressed size can
    /// hold (zlib's ratio bound) is reported before anything else is inflated.
    private static func inflated(_ bytes: Data, file: String) throws -> [UInt8] {
        let head = try Gzip.inflate(bytes, atMost: NIfTIHeader.size, file: file).bytes
        let extent = try head.withUnsafeBytes { try NIfTIHeader.parse($0, file: file).2 }
        let (ceiling, overflow) = bytes.count.multipliedReportingOverflow(by: Gzip.maxRatio)
        guard overflow || extent.end <= ceiling else {
            throw DatasetError(file: file, .corrupt,
                               "dim and vox_offset place the data's end at byte \(extent.end), but "
                               + "\(bytes.count) gzip bytes inflate to at most \(ceiling) (zlib's 1032:1 ratio)")
        }
        let limit = extent.end + trailingSlack
        let (raw, exceeded) = try Gzip.inflate(bytes, atMost: limit, file: file)
        guard !exceeded else {
            throw DatasetError(file: file, .corrupt,
                               "the gzip stream inflates to more than \(limit) bytes, but dim and vox_offset "
                               + "place the data's end at byte \(extent.end) "
                               + "(at most \(trailingSlack) bytes may follow)")
        }
        return raw
    }

    /// The header and the voxels of an uncompressed file's bytes.
    private static func decode(_ buffer: UnsafeRawBufferPointer, file: String) throws -> (NIfTIHeader, [Float]) {
        let (header, order, extent) = try NIfTIHeader.parse(buffer, file: file)
        guard buffer.count >= extent.end, let base = buffer.baseAddress else {
            throw DatasetError(file: file, .truncated,
                               "\(buffer.count) bytes, but dim \(header.shape) of \(header.datatype) "
                               + "at vox_offset \(extent.offset) needs \(extent.end)")
        }
        var values = [Float](repeating: 0, count: extent.count)
        values.withUnsafeMutableBufferPointer { out in
            guard let destination = out.baseAddress else { return }
            VoxelCodec.decode(base + extent.offset, count: extent.count, datatype: header.datatype, order: order,
                              scaling: header.scaling, into: destination)
        }
        return (header, values)
    }

    /// The file bytes (uncompressed) in `byteOrder`, stored as `header.datatype` with the
    /// inverse of the header's scaling. Integer datatypes round to nearest and reject values
    /// that do not fit or are not finite.
    public func encoded(byteOrder: ByteOrder = .little, file: String = "<memory>") throws -> [UInt8] {
        var bytes = header.serialised(order: byteOrder)
        let start = bytes.count
        bytes.append(contentsOf: [UInt8](repeating: 0, count: data.count * header.datatype.byteSize))
        try bytes.withUnsafeMutableBytes { buffer in
            try data.withUnsafeBufferPointer { values in
                try VoxelCodec.encode(values.baseAddress!, count: values.count, datatype: header.datatype,
                                      order: byteOrder, scaling: header.scaling,
                                      into: buffer.baseAddress! + start, file: file)
            }
        }
        return bytes
    }

    /// Writes atomically (temporary file, then rename); gzip-compressed when the name ends in `.gz`.
    public func write(to url: URL, byteOrder: ByteOrder = .little, compressionLevel: Int32 = 6) throws {
        let raw = try encoded(byteOrder: byteOrder, file: url.path)
        let payload = url.pathExtension == "gz"
            ? try Gzip.compress(raw, level: compressionLevel, file: url.path) : Data(raw)
        do { try payload.write(to: url, options: .atomic) } catch {
            throw DatasetError(file: url.path, .io, "cannot write file (\(error.localizedDescription))")
        }
    }

    /// An image with this image's geometry (dims, spacing, qform, sform, descriptions) holding
    /// `values` as `datatype` without scaling: the way predictions are written for an input.
    public func replacingData(_ values: [Float], datatype: NIfTIDatatype) -> NIfTIImage {
        var h = header
        h.datatype = datatype
        h.sclSlope = 1
        h.sclInter = 0
        h.calMin = 0
        h.calMax = 0
        return NIfTIImage(header: h, data: values)
    }
}

/// Conversion between stored voxels (any supported datatype and byte order) and Float32 values.
enum VoxelCodec {
    static func decode(_ raw: UnsafeRawPointer, count: Int, datatype: NIfTIDatatype, order: ByteOrder,
                       scaling: (slope: Double, intercept: Double), into out: UnsafeMutablePointer<Float>) {
        let swap = order != .host
        let (slope, intercept) = scaling
        let identity = slope == 1 && intercept == 0
        func finish(_ i: Int, _ v: Double) { out[i] = identity ? Float(v) : Float(v * slope + intercept) }
        func integers<T: FixedWidthInteger>(_: T.Type) {
            for i in 0..<count {
                let u = raw.loadUnaligned(fromByteOffset: MemoryLayout<T>.size &* i, as: T.self)
                finish(i, Double(swap ? u.byteSwapped : u))
            }
        }
        switch datatype {
        case .uint8: integers(UInt8.self)
        case .int8: integers(Int8.self)
        case .int16: integers(Int16.self)
        case .uint16: integers(UInt16.self)
        case .int32: integers(Int32.self)
        case .uint32: integers(UInt32.self)
        case .int64: integers(Int64.self)
        case .uint64: integers(UInt64.self)
        case .float32:
            for i in 0..<count {
                let u = raw.loadUnaligned(fromByteOffset: 4 &* i, as: UInt32.self)
                let f = Float(bitPattern: swap ? u.byteSwapped : u)
                out[i] = identity ? f : Float(Double(f) * slope + intercept)
            }
        case .float64:
            for i in 0..<count {
                let u = raw.loadUnaligned(fromByteOffset: 8 &* i, as: UInt64.self)
                finish(i, Double(bitPattern: swap ? u.byteSwapped : u))
            }
        }
    }

    static func encode(_ values: UnsafePointer<Float>, count: Int, datatype: NIfTIDatatype, order: ByteOrder,
                       scaling: (slope: Double, intercept: Double), into raw: UnsafeMutableRawPointer,
                       file: String) throws {
        let swap = order != .host
        let (slope, intercept) = scaling
        let identity = slope == 1 && intercept == 0
        func stored(_ i: Int) -> Double { identity ? Double(values[i]) : (Double(values[i]) - intercept) / slope }
        if let range = datatype.integerRange {
            for i in 0..<count {
                let v = stored(i).rounded()
                guard range.contains(v) else {
                    throw DatasetError(file: file, .unsupported,
                                       "voxel \(i) value \(values[i]) does not fit \(datatype) "
                                       + "(stored \(v), range \(range))")
                }
                func store<T: FixedWidthInteger>(_ value: T) {
                    let offset = MemoryLayout<T>.size &* i
                    raw.storeBytes(of: swap ? value.byteSwapped : value, toByteOffset: offset, as: T.self)
                }
                switch datatype {
                case .uint8: store(UInt8(v))
                case .int8: store(Int8(v))
                case .int16: store(Int16(v))
                case .uint16: store(UInt16(v))
                case .int32: store(Int32(v))
                case .uint32: store(UInt32(v))
                case .int64: store(Int64(v))
                case .uint64: store(UInt64(v))
                case .float32, .float64: preconditionFailure("float datatypes have no integer range")
                }
            }
        } else if datatype == .float32 {
            for i in 0..<count {
                let u = Float(stored(i)).bitPattern
                raw.storeBytes(of: swap ? u.byteSwapped : u, toByteOffset: 4 &* i, as: UInt32.self)
            }
        } else {
            for i in 0..<count {
                let u = stored(i).bitPattern
                raw.storeBytes(of: swap ? u.byteSwapped : u, toByteOffset: 8 &* i, as: UInt64.self)
            }
        }
    }
}
