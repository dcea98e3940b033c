import CPNG
import Foundation

/// A PNG image held as its stored samples, read and written through libpng's simplified API
/// (`png_image_*`, which reports errors in `image.message` instead of longjmp).
///
/// Samples are exactly the file's values: 8-bit files give 0...255, 16-bit files 0...65535, grey
/// files of 1, 2 or 4 bits their original small integers, palette files their palette indices.
/// Limits of the simplified API: a 16-bit file whose gAMA/sRGB chunk says it is not linear is
/// converted to linear, and 16-bit alpha images come back premultiplied (exact when opaque).
public struct PNGImage: Equatable, Sendable {
    public enum Kind: String, Sendable {
        case grey, greyAlpha, rgb, rgba, palette

        /// Interleaved samples per pixel (a palette image stores one index).
        public var channels: Int {
            switch self {
            case .grey, .palette: return 1
            case .greyAlpha: return 2
            case .rgb: return 3
            case .rgba: return 4
            }
        }
    }

    public var width: Int
    public var height: Int
    public var kind: Kind
    /// 8 or 16 (palette images: 8).
    public var bitDepth: Int
    /// H x W x channels, row-major, interleaved.
    public var samples: [UInt16]
    /// RGBA entries of a palette image (empty otherwise).
    public var palette: [[UInt8]]

    public init(width: Int, height: Int, kind: Kind, bitDepth: Int = 8, samples: [UInt16], palette: [[UInt8]] = []) {
        precondition(samples.count == width * height * kind.channels,
                     "\(samples.count) samples for \(width)x\(height) \(kind)")
        precondition(bitDepth == 8 || bitDepth == 16, "bit depth \(bitDepth)")
        precondition(kind != .palette || (bitDepth == 8 && (1...256).contains(palette.count)),
                     "palette needs 1...256 entries")
        self.width = width
        self.height = height
        self.kind = kind
        self.bitDepth = bitDepth
        self.samples = samples
        self.palette = palette
    }

    /// Reads `url`, which must be a regular file.
    public init(contentsOf url: URL) throws {
        try self.init(bytes: try InputFile.contents(url), file: url.path)
    }

    /// Writes atomically (temporary file, then rename).
    public func write(to url: URL) throws {
        let bytes = try encoded(file: url.path)
        do { try bytes.write(to: url, options: .atomic) } catch {
            throw DatasetError(file: url.path, .io, "cannot write file (\(error.localizedDescription))")
        }
    }

    // MARK: Interpretation

    /// The image as exact integer labels: grey value, palette index, or the common value of
    /// R = G = B (a colour pixel is an error). Alpha is ignored.
    public func labelValues(file: String) throws -> [UInt16] {
        let c = kind.channels
        var out = [UInt16](repeating: 0, count: width * height)
        for i in 0..<out.count {
            let v = samples[i * c]
            if kind == .rgb || kind == .rgba, samples[i * c + 1] != v || samples[i * c + 2] != v {
                throw DatasetError(file: file, .corrupt,
                                   "label pixel (row \(i / width), column \(i % width)) is the colour "
                                   + "(\(v), \(samples[i * c + 1]), \(samples[i * c + 2])); "
                                   + "label images must be grey or palette")
            }
            out[i] = v
        }
        return out
    }

    /// The image as grey intensities: the grey sample, the mean of R, G, B, or the mean of the
    /// palette colour. Alpha is ignored.
    public func greyValues() -> [Float] {
        let c = kind.channels
        return (0..<(width * height)).map { i in
            switch kind {
            case .grey, .greyAlpha: return Float(samples[i * c])
            case .rgb, .rgba: return (Float(samples[i * c]) + Float(samples[i * c + 1]) + Float(samples[i * c + 2])) / 3
            case .palette:
                let p = palette[min(Int(samples[i]), palette.count - 1)]
                return (Float(p[0]) + Float(p[1]) + Float(p[2])) / 3
            }
        }
    }
}
