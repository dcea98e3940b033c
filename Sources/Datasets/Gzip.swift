import CZlib
import Foundation

/// In-memory gzip through zlib's inflate/deflate API (no temporary files, precise errors).
enum Gzip {
    /// The most a deflate stream can expand: a 258-byte match costs at least 2 bits (1032:1).
    /// No gzip file inflates to more than `maxRatio` times its own size.
    static let maxRatio = 1032

    /// True if `bytes` starts with the gzip magic 1f 8b.
    static func isCompressed(_ bytes: Data) -> Bool {
        bytes.count >= 2 && bytes[bytes.startIndex] == 0x1f && bytes[bytes.startIndex + 1] == 0x8b
    }

    /// Inflates the gzip members of `bytes` (concatenated members are one stream), but never more
    /// than `limit + 1` bytes: `bytes` holds at most `limit` of them, and `exceeded` says whether the
    /// stream holds more (inflating stops there, so a bomb costs at most `limit + 1` bytes).
    /// Throws `.truncated` if the stream ends early and `.corrupt` for invalid data (zlib's
    /// message included).
    static func inflate(_ bytes: Data, atMost limit: Int, file: String) throws -> (bytes: [UInt8], exceeded: Bool) {
        var stream = z_stream()
        guard inflateInit2_(&stream, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw DatasetError(file: file, .io, "zlib inflateInit2 failed")
        }
        defer { inflateEnd(&stream) }
        let capacity = limit + 1
        var output = [UInt8](repeating: 0, count: min(capacity, max(sizeHint(bytes), 1 << 16)))
        var produced = 0
        try bytes.withUnsafeBytes { (input: UnsafeRawBufferPointer) in
            guard let base = input.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
            var position = 0
            while produced < capacity {
                if produced == output.count {
                    output.append(contentsOf: [UInt8](repeating: 0, count: min(output.count, capacity - output.count)))
                }
                // At most 4 GiB - 1 of input per call: zlib's counts are 32-bit.
                let fed = min(input.count - position, Int(UInt32.max))
                stream.next_in = UnsafeMutablePointer(mutating: base + position)
                stream.avail_in = UInt32(fed)
                let status: Int32 = output.withUnsafeMutableBufferPointer { out in
                    let room = min(out.count - produced, Int(UInt32.max))
                    stream.next_out = out.baseAddress.map { $0 + produced }
                    stream.avail_out = UInt32(room)
                    let s = CZlib.inflate(&stream, Z_NO_FLUSH)
                    produced += room - Int(stream.avail_out)
                    return s
                }
                position += fed - Int(stream.avail_in)
                switch status {
                case Z_STREAM_END:
                    // Another gzip member may follow (concatenated .gz files are valid); other trailing
                    // bytes are ignored.
                    guard input.count - position >= 2, base[position] == 0x1f, base[position + 1] == 0x8b else {
                        return
                    }
                    inflateReset(&stream)
                case Z_OK:
                    continue
                case Z_BUF_ERROR where position == input.count:
                    throw DatasetError(file: file, .truncated, "gzip stream ends early after "
                                                               + "\(produced) uncompressed bytes")
                case Z_BUF_ERROR:
                    continue
                default:
                    let reason = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                    throw DatasetError(file: file, .corrupt, "invalid gzip data: \(reason)")
                }
            }
        }
        let exceeded = produced > limit
        output.removeSubrange(min(produced, limit)...)
        return (output, exceeded)
    }

    /// ISIZE (the uncompressed size mod 2^32, in the last 4 bytes) as a capacity hint.
    private static func sizeHint(_ bytes: Data) -> Int {
        guard bytes.count >= 18 else { return 0 }
        return bytes.suffix(4).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
    }

    /// Compresses `bytes` into one gzip member at `level` (0...9).
    static func compress(_ bytes: [UInt8], level: Int32, file: String) throws -> Data {
        var stream = z_stream()
        guard deflateInit2_(&stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, zlibVersion(),
                            Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw DatasetError(file: file, .io, "zlib deflateInit2 failed (level \(level))")
        }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(bytes.count))) + 32)
        let status: Int32 = bytes.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress!)
                stream.avail_in = UInt32(input.count)
                stream.next_out = out.baseAddress!
                stream.avail_out = UInt32(out.count)
                return deflate(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END else {
            throw DatasetError(file: file, .io, "zlib deflate failed with status \(status)")
        }
        return Data(output.prefix(Int(stream.total_out)))
    }
}
