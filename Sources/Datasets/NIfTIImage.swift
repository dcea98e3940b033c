import Foundation

/// A NIfTI-1 image (`.nii` or `.nii.gz`): its header and its voxel values as Float32 after
/// scl_slope/scl_inter, x fastest (index x + nx * (y + ny * z)).
///
/// Values are held as Float32: uint8, int16 and float32 voxels are exact; int32 magnitudes above
/// 2^24 and float64 values are rounded to the nearest Float32.
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

    /// Reads `url`; gzip is detected from the content, not the name.
    public init(contentsOf url: URL) throws {
        let bytes: Data
        do { bytes = try Data(contentsOf: url) } catch {
            throw DatasetError(file: url.path, .io, "cannot read file (\(error.localizedDescription))")
        }
        try self.init(bytes: bytes, file: url.path)
    }

    /// Decodes a complete file's bytes (`file` names it in errors).
    public init(bytes: Data, file: String) throws {
        let raw: [UInt8] = Gzip.isCompressed(bytes) ? try Gzip.decompress(bytes, file: file) : [UInt8](bytes)
        (header, data) = try raw.withUnsafeBytes { buffer in
            let (header, order) = try NIfTIHeader.parse(buffer, file: file)
            let (count, overflow) = header.shape.reduce((1, false)) { acc, n in
                let r = acc.0.multipliedReportingOverflow(by: n)
                return (r.partialValue, acc.1 || r.overflow)
            }
            let offset = Int(header.voxOffset)
            let needed = offset + count * header.datatype.byteSize
            guard !overflow, count < 1 << 34 else {
                throw DatasetError(file: file, .corrupt, "dims \(header.shape) are implausibly large")
            }
            guard buffer.count >= needed else {
                throw DatasetError(file: file, .truncated,
                                   "\(buffer.count) bytes, but dims \(header.shape) of \(header.datatype) at offset \(offset) need \(needed)")
            }
            var values = [Float](repeating: 0, count: count)
            values.withUnsafeMutableBufferPointer { out in
                VoxelCodec.decode(buffer.baseAddress! + offset, count: count, datatype: header.datatype, order: order,
                                  scaling: header.scaling, into: out.baseAddress!)
            }
            return (header, values)
        }
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
        let payload = url.pathExtension == "gz" ? try Gzip.compress(raw, level: compressionLevel, file: url.path) : Data(raw)
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
        switch datatype {
        case .uint8:
            let p = raw.assumingMemoryBound(to: UInt8.self)
            for i in 0..<count { finish(i, Double(p[i])) }
        case .int16:
            for i in 0..<count {
                let u = raw.loadUnaligned(fromByteOffset: 2 &* i, as: UInt16.self)
                finish(i, Double(Int16(bitPattern: swap ? u.byteSwapped : u)))
            }
        case .int32:
            for i in 0..<count {
                let u = raw.loadUnaligned(fromByteOffset: 4 &* i, as: UInt32.self)
                finish(i, Double(Int32(bitPattern: swap ? u.byteSwapped : u)))
            }
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
                                       "voxel \(i) value \(values[i]) does not fit \(datatype) (stored \(v), range \(range))")
                }
                switch datatype {
                case .uint8: raw.storeBytes(of: UInt8(v), toByteOffset: i, as: UInt8.self)
                case .int16:
                    let u = UInt16(bitPattern: Int16(v))
                    raw.storeBytes(of: swap ? u.byteSwapped : u, toByteOffset: 2 &* i, as: UInt16.self)
                default:
                    let u = UInt32(bitPattern: Int32(v))
                    raw.storeBytes(of: swap ? u.byteSwapped : u, toByteOffset: 4 &* i, as: UInt32.self)
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
