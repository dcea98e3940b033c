import CPNG
import Foundation

/// libpng simplified-API format flags (png.h PNG_FORMAT_FLAG_*).
private enum FormatFlag {
    static let alpha: UInt32 = 0x01
    static let color: UInt32 = 0x02
    static let linear: UInt32 = 0x04
    static let colormap: UInt32 = 0x08
}

extension PNGImage {
    private static let signature: [UInt8] = [137, 80, 78, 71, 13, 10, 26, 10]
    /// The largest width or height read.
    static let maxSide = 16384
    /// The most pixels an image may have (8192 x 8192; a 16-bit RGBA image of this size decodes
    /// to 512 MiB of samples).
    static let maxPixels = 1 << 26

    /// Decodes a whole PNG file held in memory (`file` names it in errors). The IHDR sizes are
    /// checked against `maxSide`, `maxPixels` and the file size before anything is allocated.
    public init(bytes: Data, file: String) throws {
        let ihdr = try Self.checkSignatureAndHeader(bytes, file: file)
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        let truncated = bytes.range(of: Data("IEND".utf8), options: .backwards) == nil
        func failure(_ stage: String) -> DatasetError {
            DatasetError(file: file, truncated ? .truncated : .corrupt,
                         "libpng \(stage) failed: "
                         + "\(Self.message(of: image))\(truncated ? " (no IEND chunk: the file is cut short)" : "")")
        }
        let started = bytes.withUnsafeBytes { png_image_begin_read_from_memory(&image, $0.baseAddress, $0.count) }
        guard started != 0 else { throw failure("header read") }
        let width = Int(image.width), height = Int(image.height)
        guard width == ihdr.width, height == ihdr.height else {
            png_image_free(&image)
            throw DatasetError(file: file, .corrupt, "libpng read \(width)x\(height) pixels, "
                                                     + "IHDR says \(ihdr.width)x\(ihdr.height)")
        }
        let isPalette = image.format & FormatFlag.colormap != 0
        image.format = isPalette ? FormatFlag.color | FormatFlag.alpha | FormatFlag.colormap
                                 : image.format & (FormatFlag.alpha | FormatFlag.color | FormatFlag.linear)
        let kind: Kind = isPalette ? .palette : Self.kind(format: image.format)
        let wide = image.format & FormatFlag.linear != 0
        let count = width * height * kind.channels
        var colormap = [UInt8](repeating: 0, count: 256 * 4)
        var samples: [UInt16]
        var ok: Int32
        if wide {
            samples = [UInt16](repeating: 0, count: count)
            ok = samples.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, &colormap) }
        } else {
            var narrow = [UInt8](repeating: 0, count: count)
            ok = narrow.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, &colormap) }
            let scale = UInt8(kind == .grey && ihdr.bitDepth < 8 ? 255 / ((1 << ihdr.bitDepth) - 1) : 1)
            samples = narrow.map { UInt16($0 / scale) }
        }
        guard ok != 0 else { throw failure("decode") }
        guard !truncated else {
            throw DatasetError(file: file, .truncated, "no IEND chunk: the file is cut short after the image data")
        }
        let entries = Int(image.colormap_entries)
        guard !isPalette || (1...256).contains(entries) else {
            throw DatasetError(file: file, .corrupt, "palette image with \(entries) colormap entries, expected 1...256")
        }
        let palette = isPalette ? (0..<entries).map { Array(colormap[4 * $0 ..< 4 * $0 + 4]) } : []
        self.init(width: width, height: height, kind: kind, bitDepth: wide ? 16 : 8, samples: samples, palette: palette)
    }

    /// The PNG file bytes. 16-bit images with alpha are rejected: the simplified API would
    /// treat their samples as premultiplied and change them.
    public func encoded(file: String = "<memory>") throws -> Data {
        guard !(bitDepth == 16 && (kind == .greyAlpha || kind == .rgba)) else {
            throw DatasetError(file: file, .unsupported, "16-bit PNG with alpha cannot be written exactly")
        }
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        image.width = UInt32(width)
        image.height = UInt32(height)
        var colormap = [UInt8]()
        switch kind {
        case .grey: image.format = 0
        case .greyAlpha: image.format = FormatFlag.alpha
        case .rgb: image.format = FormatFlag.color
        case .rgba: image.format = FormatFlag.color | FormatFlag.alpha
        case .palette:
            image.format = FormatFlag.color | FormatFlag.alpha | FormatFlag.colormap
            image.colormap_entries = UInt32(palette.count)
            colormap = palette.flatMap { $0.count == 4 ? $0 : $0 + [255] }
            if let bad = samples.first(where: { Int($0) >= palette.count }) {
                throw DatasetError(file: file, .unsupported, "palette index \(bad) with "
                                                             + "\(palette.count) palette entries")
            }
        }
        if bitDepth == 16 { image.format |= FormatFlag.linear }
        let narrow = bitDepth == 8 ? samples.map { UInt8(truncatingIfNeeded: $0) } : []
        func write(_ memory: UnsafeMutableRawPointer?, _ size: inout Int) -> Int32 {
            colormap.withUnsafeBytes { cmap in
                let cm = cmap.baseAddress
                return bitDepth == 16
                    ? samples.withUnsafeBytes {
                        png_image_write_to_memory(&image, memory, &size, 0, $0.baseAddress, 0, cm)
                    }
                    : narrow.withUnsafeBytes {
                        png_image_write_to_memory(&image, memory, &size, 0, $0.baseAddress, 0, cm)
                    }
            }
        }
        var size = 0
        guard write(nil, &size) != 0, size > 0 else { throw Self.writeError(image, file: file) }
        var out = Data(count: size)
        let ok = out.withUnsafeMutableBytes { write($0.baseAddress, &size) }
        guard ok != 0 else { throw Self.writeError(image, file: file) }
        return out.prefix(size)
    }

    private static func writeError(_ image: png_image, file: String) -> DatasetError {
        DatasetError(file: file, .io, "libpng could not encode the image: \(message(of: image))")
    }

    /// libpng's NUL-terminated message in `image.message`.
    private static func message(of image: png_image) -> String {
        withUnsafeBytes(of: image.message) { raw in String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self) }
    }

    private static func kind(format: UInt32) -> Kind {
        switch (format & FormatFlag.color != 0, format & FormatFlag.alpha != 0) {
        case (false, false): return .grey
        case (false, true): return .greyAlpha
        case (true, false): return .rgb
        case (true, true): return .rgba
        }
    }

    /// The IHDR fields that size the decoded image.
    struct Header {
        let width: Int, height: Int, bitDepth: Int, colourType: Int
    }

    /// Bit depths allowed for each PNG colour type (PNG spec, 11.2.2), and its samples per pixel.
    private static let colourTypes: [Int: (depths: [Int], channels: Int)] = [
        0: ([1, 2, 4, 8, 16], 1), 2: ([8, 16], 3), 3: ([1, 2, 4, 8], 1), 4: ([8, 16], 2), 6: ([8, 16], 4),
    ]

    /// Checks the 8-byte signature and the IHDR chunk: a valid bit depth and colour type, sizes
    /// within `maxSide` and `maxPixels`, and scanlines that `bytes.count` compressed bytes can
    /// hold (zlib's 1032:1 ratio bound), so that a crafted header cannot make the decoder allocate.
    private static func checkSignatureAndHeader(_ bytes: Data, file: String) throws -> Header {
        let head = [UInt8](bytes.prefix(33))
        let sigLength = min(head.count, 8)
        guard Array(head.prefix(sigLength)) == Array(signature.prefix(sigLength)) else {
            throw DatasetError(file: file, .corrupt, "not a PNG file (signature "
                                                     + "\(head.prefix(8).map { String($0) }.joined(separator: " ")))")
        }
        guard head.count == 33 else {
            throw DatasetError(file: file, .truncated, "\(bytes.count) bytes: the file ends inside the PNG header")
        }
        guard Array(head[12..<16]) == Array("IHDR".utf8) else {
            throw DatasetError(file: file, .corrupt, "the first chunk is not IHDR")
        }
        let bigEndian = { (at: Int) in head[at ..< at + 4].reduce(0) { $0 << 8 | Int($1) } }
        let header = Header(width: bigEndian(16), height: bigEndian(20), bitDepth: Int(head[24]),
                            colourType: Int(head[25]))
        guard let colour = colourTypes[header.colourType], colour.depths.contains(header.bitDepth) else {
            throw DatasetError(file: file, .corrupt,
                               "IHDR colour type \(header.colourType) with bit depth \(header.bitDepth) "
                               + "is not a valid PNG combination")
        }
        try checkSize(header, channels: colour.channels, fileSize: bytes.count, file: file)
        return header
    }

    /// IHDR width and height within 1...`maxSide`, at most `maxPixels` pixels, and raw scanlines
    /// (a filter byte and the packed samples per row) no larger than `fileSize` bytes can inflate to.
    private static func checkSize(_ header: Header, channels: Int, fileSize: Int, file: String) throws {
        let (width, height) = (header.width, header.height)
        guard (1...maxSide).contains(width), (1...maxSide).contains(height) else {
            throw DatasetError(file: file, (width == 0 || height == 0) ? .corrupt : .unsupported,
                               "IHDR width x height is \(width) x \(height), expected 1...\(maxSide) each")
        }
        guard width * height <= maxPixels else {
            throw DatasetError(file: file, .unsupported,
                               "IHDR width x height is \(width) x \(height) = \(width * height) pixels, "
                               + "at most \(maxPixels) are read")
        }
        let scanlines = height * (1 + (width * channels * header.bitDepth + 7) / 8)
        let (ceiling, overflow) = fileSize.multipliedReportingOverflow(by: Gzip.maxRatio)
        guard overflow || scanlines <= ceiling else {
            throw DatasetError(file: file, .corrupt,
                               "IHDR width x height \(width) x \(height) needs \(scanlines) bytes of scanlines, "
                               + "but the \(fileSize)-byte file inflates to at most \(ceiling) (zlib's 1032:1 ratio)")
        }
    }
}
