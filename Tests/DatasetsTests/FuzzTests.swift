import Foundation
import Tensors
import TestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif
@testable import Datasets

/// Seeded mutation fuzzing of the NIfTI (`.nii`, `.nii.gz`) and PNG readers: every mutant of a
/// valid file (bit flips, truncation, inserted or deleted runs, header fields set to boundary
/// values such as 0, -1, Int32.max, 1e30 and NaN, or multiplied) must decode or throw a
/// `DatasetError` naming the file, never trap; a decoded image holds no more values than the
/// input's bytes can (gzip: inflated at zlib's 1032:1 at most), and each family's peak RSS grows
/// by less than `maxGrowthMiB`.
///
/// Measured on the CI machine (2-core AMD EPYC, release build): .nii 20000 cases 0.1 s,
/// .nii.gz 4000 cases 2.8 s (a third are bombs of up to 256 MiB, each stopped after about
/// 1 MiB), PNG 20000 cases 0.15 s; peak RSS grew by under 1 MiB per family.
final class DatasetFuzzTests: XCTestCase {
    static let niftiCases = 20000
    static let gzipCases = 4000
    static let pngCases = 20000
    /// Seeds are at most 1.4 KB and a gzip stream is inflated to at most 1 MiB past the data its
    /// header claims, so a reader that allocated what a mutant claims (up to 2^30 voxels, bombs of
    /// up to 256 MiB) would exceed this by far.
    static let maxGrowthMiB = 16
    /// A .nii.gz mutant may legitimately claim (and get) up to zlib's 1032:1 of its compressed
    /// size, and the bomb mutants are up to 256 KiB compressed: some decode tens of MiB (33 MiB
    /// measured in one run). 128 MiB still fails a reader that inflates what the stream holds
    /// (the reported bomb took 3 GiB).
    static let gzipMaxGrowthMiB = 128

    // MARK: NIfTI

    /// Valid images of every datatype in both byte orders, 2D to 4D, some with scaling.
    static func niftiSeeds() throws -> [(bytes: [UInt8], order: ByteOrder)] {
        let shapes = [[6, 5, 3], [8, 7], [4, 3, 2, 2], [1, 1, 1]]
        var seeds: [(bytes: [UInt8], order: ByteOrder)] = []
        for (i, datatype) in NIfTIDatatype.allCases.enumerated() {
            for order in [ByteOrder.little, .big] {
                let shape = shapes[(i + seeds.count) % shapes.count]
                var header = NIfTIHeader(shape: shape, spacing: shape.map { _ in 1.5 }, datatype: datatype)
                if order == .big { header.sclSlope = 2 }
                let values = (0..<shape.reduce(1, *)).map { Float($0 % 50 * 2) }
                seeds.append((try NIfTIImage(header: header, data: values).encoded(byteOrder: order), order))
            }
        }
        return seeds
    }

    /// The header fields that size and locate the data (and a few more), in the seed's byte order.
    static func niftiFields(_ order: ByteOrder) -> [FuzzField] {
        let big = order == .big
        var fields = [FuzzField(name: "sizeof_hdr", offset: 0, width: 4, bigEndian: big),
                      FuzzField(name: "datatype", offset: 70, width: 2, bigEndian: big),
                      FuzzField(name: "bitpix", offset: 72, width: 2, bigEndian: big),
                      FuzzField(name: "vox_offset", offset: 108, width: 4, bigEndian: big, isFloat: true),
                      FuzzField(name: "scl_slope", offset: 112, width: 4, bigEndian: big, isFloat: true),
                      FuzzField(name: "scl_inter", offset: 116, width: 4, bigEndian: big, isFloat: true),
                      FuzzField(name: "sform_code", offset: 254, width: 2, bigEndian: big),
                      FuzzField(name: "magic", offset: 344, width: 4)]
        fields += (0..<8).map { FuzzField(name: "dim[\($0)]", offset: 40 + 2 * $0, width: 2, bigEndian: big) }
        fields += (0..<4).map {
            FuzzField(name: "pixdim[\($0)]", offset: 76 + 4 * $0, width: 4, bigEndian: big, isFloat: true)
        }
        return fields
    }

    /// Decodes `bytes` and checks that the image holds no more values than `rawBound` bytes can.
    static func decodeNIfTI(_ bytes: [UInt8], rawBound: Int, label: String) throws {
        let image = try NIfTIImage(bytes: Data(bytes), file: "fuzz.nii")
        XCTAssertEqual(image.data.count, image.shape.reduce(1, *), label)
        XCTAssertLessThanOrEqual(image.data.count * image.header.datatype.byteSize, rawBound, label)
    }

    static func isNamedDatasetError(_ error: Error) -> Bool { (error as? DatasetError)?.file == "fuzz.nii" }

    func testNIfTIMutantsDecodeOrThrowTypedErrors() throws {
        let seeds = try Self.niftiSeeds()
        try fuzz("nii", seed: 0x4E49_4931, cases: Self.niftiCases, maxGrowthMiB: Self.maxGrowthMiB, makeInput: { m in
            let seed = m.pick(seeds)
            return m.mutate(seed.bytes, fields: Self.niftiFields(seed.order))
        }, isExpected: Self.isNamedDatasetError) { bytes, label in
            try Self.decodeNIfTI(bytes, rawBound: bytes.count, label: label)
        }
    }

    /// One gzip member of 1 MiB of zeros (about 1 KB), concatenated to make bombs cheaply.
    static func zeroMember() throws -> [UInt8] {
        [UInt8](try Gzip.compress([UInt8](repeating: 0, count: 1 << 20), level: 9, file: "zeros"))
    }

    /// A `.nii.gz` mutant: the uncompressed file mutated then compressed, the compressed bytes
    /// mutated (gzip flags, CRC and ISIZE as fields), or a bomb of up to 256 MiB of zeros after a
    /// (possibly mutated) file.
    static func gzipInput(_ m: inout Mutator, seeds: [(bytes: [UInt8], order: ByteOrder)],
                          zeroMember: [UInt8]) throws -> (bytes: [UInt8], description: String) {
        let seed = m.pick(seeds)
        switch m.below(3) {
        case 0:
            let raw = m.mutate(seed.bytes, fields: niftiFields(seed.order))
            return ([UInt8](try Gzip.compress(raw.bytes, level: 1, file: "fuzz")),
                    "compressed after " + raw.description)
        case 1:
            let gz = [UInt8](try Gzip.compress(seed.bytes, level: 1, file: "fuzz"))
            let fields = [FuzzField(name: "gzip flags", offset: 3, width: 1),
                          FuzzField(name: "gzip CRC32", offset: gz.count - 8, width: 4),
                          FuzzField(name: "gzip ISIZE", offset: gz.count - 4, width: 4)]
            return m.mutate(gz, fields: fields)
        default:
            let raw = m.below(2) == 0 ? (seed.bytes, "valid") : m.mutate(seed.bytes, fields: niftiFields(seed.order))
            let members = 1 + m.below(256)
            let zeros = Array([[UInt8]](repeating: zeroMember, count: members).joined())
            let bomb = [UInt8](try Gzip.compress(raw.0, level: 1, file: "fuzz")) + zeros
            return (bomb, "\(members) MiB of zeros after a \(raw.1) file")
        }
    }

    func testGzippedNIfTIMutantsDecodeOrThrowTypedErrors() throws {
        let (seeds, zeroMember) = (try Self.niftiSeeds(), try Self.zeroMember())
        try fuzz("nii.gz", seed: 0x475A_4950, cases: Self.gzipCases, maxGrowthMiB: Self.gzipMaxGrowthMiB,
                 makeInput: { m in
            try Self.gzipInput(&m, seeds: seeds, zeroMember: zeroMember)
        }, isExpected: Self.isNamedDatasetError) { bytes, label in
            try Self.decodeNIfTI(bytes, rawBound: bytes.count * Gzip.maxRatio, label: label)
        }
    }

    // MARK: PNG

    /// Every kind the encoder writes, and hand-made 2-bit grey and 4-bit palette files.
    static func pngSeeds() throws -> [[UInt8]] {
        let ramp = { (count: Int, modulo: Int) in (0..<count).map { UInt16($0 * 37 % modulo) } }
        let images = [
            PNGImage(width: 9, height: 7, kind: .grey, samples: ramp(63, 256)),
            PNGImage(width: 9, height: 7, kind: .grey, bitDepth: 16, samples: ramp(63, 65536)),
            PNGImage(width: 5, height: 4, kind: .greyAlpha, samples: ramp(40, 256)),
            PNGImage(width: 5, height: 4, kind: .rgb, samples: ramp(60, 256)),
            PNGImage(width: 5, height: 4, kind: .rgb, bitDepth: 16, samples: ramp(60, 65536)),
            PNGImage(width: 5, height: 4, kind: .rgba, samples: ramp(80, 256)),
            PNGImage(width: 6, height: 3, kind: .palette, samples: ramp(18, 3),
                     palette: [[0, 0, 0, 255], [9, 8, 7, 255], [1, 2, 3, 0]]),
        ]
        return try images.map { [UInt8](try $0.encoded()) } + [
            HandmadePNG.file(width: 5, height: 2, bitDepth: 2, colorType: 0,
                             rows: [[0b00_01_10_11, 0b01_000000], [0b11_10_01_00, 0b10_000000]]),
            HandmadePNG.file(width: 3, height: 1, bitDepth: 4, colorType: 3, rows: [[0x20, 0x10]],
                             palette: [[10, 20, 30], [40, 50, 60], [70, 80, 90]]),
        ]
    }

    /// The IHDR fields, and the length field of every chunk (big-endian, as PNG stores them).
    static func pngFields(_ bytes: [UInt8]) -> [FuzzField] {
        var fields = [FuzzField(name: "IHDR width", offset: 16, width: 4, bigEndian: true),
                      FuzzField(name: "IHDR height", offset: 20, width: 4, bigEndian: true),
                      FuzzField(name: "IHDR bit depth", offset: 24, width: 1),
                      FuzzField(name: "IHDR colour type", offset: 25, width: 1),
                      FuzzField(name: "IHDR interlace", offset: 28, width: 1)]
        fields += chunks(bytes).map {
            FuzzField(name: "\($0.type) length", offset: $0.offset, width: 4, bigEndian: true)
        }
        return fields
    }

    /// Offset, type and data length of each chunk while the lengths stay inside the file.
    static func chunks(_ bytes: [UInt8]) -> [(offset: Int, type: String, length: Int)] {
        var found: [(offset: Int, type: String, length: Int)] = []
        var at = 8
        while at + 12 <= bytes.count {
            let length = Int(Mutator.load(FuzzField(name: "", offset: at, width: 4, bigEndian: true), bytes))
            guard length <= bytes.count - at - 12 else { break }
            found.append((at, String(decoding: bytes[at + 4 ..< at + 8], as: UTF8.self), length))
            at += 12 + length
        }
        return found
    }

    /// `bytes` with every chunk's CRC recomputed, so that libpng reads on past a mutated header.
    static func withValidCRCs(_ bytes: [UInt8]) -> [UInt8] {
        var out = bytes
        for chunk in chunks(bytes) {
            let crc = HandmadePNG.crc32(Array(bytes[chunk.offset + 4 ..< chunk.offset + 8 + chunk.length]))
            let field = FuzzField(name: "CRC", offset: chunk.offset + 8 + chunk.length, width: 4, bigEndian: true)
            Mutator.store(UInt64(crc), field, &out)
        }
        return out
    }

    func testPNGMutantsDecodeOrThrowTypedErrors() throws {
        let seeds = try Self.pngSeeds()
        try fuzz("png", seed: 0x504E_4731, cases: Self.pngCases, maxGrowthMiB: Self.maxGrowthMiB, makeInput: { m in
            let seed = m.pick(seeds)
            let mutant = m.mutate(seed, fields: Self.pngFields(seed))
            return m.below(2) == 0 ? mutant : (Self.withValidCRCs(mutant.bytes), mutant.description + ", CRCs fixed")
        }, isExpected: { ($0 as? DatasetError)?.file == "fuzz.png" }) { bytes, label in
            let image = try PNGImage(bytes: Data(bytes), file: "fuzz.png")
            XCTAssertLessThanOrEqual(image.width * image.height, PNGImage.maxPixels, label)
            // At most 8 samples (1-bit) per inflated byte, and at most 1032 inflated bytes per file byte.
            XCTAssertLessThanOrEqual(image.samples.count, 8 * Gzip.maxRatio * bytes.count, label)
        }
    }
}
