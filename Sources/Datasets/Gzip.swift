import CZlib
import Foundation

/// In-memory gzip through zlib's inflate/deflate API (no temporary files, precise errors).
enum Gzip {
    /// True if `bytes` starts with the gzip magic 1f 8b.
    static func isCompressed(_ bytes: Data) -> Bool {
        bytes.count >= 2 && bytes[bytes.startIndex] == 0x1f && bytes[bytes.startIndex + 1] == 0x8b
    }

    /// Decompresses all gzip members of `bytes`. Throws `.truncated` if the stream ends early and
    /// `.corrupt` for invalid data (zlib's message included).
    static func decompress(_ bytes: Data, file: String) throws -> [UInt8] {
        var stream = z_stream()
        guard inflateInit2_(&stream, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw DatasetError(file: file, .io, "zlib inflateInit2 failed")
        }
        defer { inflateEnd(&stream) }
        // ISIZE (uncompressed size mod 2^32, last 4 bytes) as a capacity hint.
        let hint = bytes.count >= 18 ? bytes.suffix(4).enumerated().reduce(0) { $0 | Int($1.1) << (8 * $1.0) } : 0
        var output = [UInt8](repeating: 0, count: min(max(hint, 1 << 16), 1 << 29))
        var produced = 0
        try bytes.withUnsafeBytes { (input: UnsafeRawBufferPointer) in
            let base = input.bindMemory(to: UInt8.self).baseAddress!
            stream.next_in = UnsafeMutablePointer(mutating: base)
            stream.avail_in = UInt32(input.count)
            while true {
                if produced == output.count { output.append(contentsOf: [UInt8](repeating: 0, count: output.count)) }
                let status: Int32 = output.withUnsafeMutableBufferPointer { out in
                    stream.next_out = out.baseAddress! + produced
                    stream.avail_out = UInt32(min(out.count - produced, Int(UInt32.max)))
                    let before = stream.avail_out
                    let s = inflate(&stream, Z_NO_FLUSH)
                    produced += Int(before - stream.avail_out)
                    return s
                }
                switch status {
                case Z_STREAM_END:
                    // Another gzip member may follow (concatenated .gz files are valid).
                    guard stream.avail_in >= 2, stream.next_in[0] == 0x1f, stream.next_in[1] == 0x8b else { return }
                    inflateReset(&stream)
                case Z_OK:
                    continue
                case Z_BUF_ERROR where stream.avail_in == 0:
                    throw DatasetError(file: file, .truncated, "gzip stream ends early after \(produced) uncompressed bytes")
                case Z_BUF_ERROR:
                    continue
                default:
                    let reason = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                    throw DatasetError(file: file, .corrupt, "invalid gzip data: \(reason)")
                }
            }
        }
        output.removeSubrange(produced...)
        return output
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
