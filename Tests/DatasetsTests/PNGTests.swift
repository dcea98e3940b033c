import Foundation
import XCTest
@testable import Datasets

final class PNGTests: TemporaryDirectoryTestCase {
    private func pattern(_ count: Int, modulo: Int) -> [UInt16] {
        (0..<count).map { UInt16(($0 &* 7919 &+ 13) % modulo) }
    }

    func testRoundTripEveryKind() throws {
        let w = 7, h = 5
        let cases: [PNGImage] = [
            PNGImage(width: w, height: h, kind: .grey, samples: pattern(w * h, modulo: 256)),
            PNGImage(width: w, height: h, kind: .grey, bitDepth: 16, samples: pattern(w * h, modulo: 65536)),
            PNGImage(width: w, height: h, kind: .greyAlpha, samples: pattern(w * h * 2, modulo: 256)),
            PNGImage(width: w, height: h, kind: .rgb, samples: pattern(w * h * 3, modulo: 256)),
            PNGImage(width: w, height: h, kind: .rgb, bitDepth: 16, samples: pattern(w * h * 3, modulo: 65536)),
            PNGImage(width: w, height: h, kind: .rgba, samples: pattern(w * h * 4, modulo: 256)),
            PNGImage(width: w, height: h, kind: .palette, samples: pattern(w * h, modulo: 5),
                     palette: [[0, 0, 0, 255], [255, 0, 0, 128], [0, 255, 0, 255], [9, 9, 200, 255], [1, 2, 3, 0]]),
            PNGImage(width: 1, height: 1, kind: .grey, samples: [42]),
        ]
        for (i, image) in cases.enumerated() {
            let url = tmp.appendingPathComponent("case\(i).png")
            try image.write(to: url)
            let back = try PNGImage(contentsOf: url)
            XCTAssertEqual(back, image, "case \(i): \(image.kind) \(image.bitDepth)-bit")
        }
    }

    func testLabelsKeepExactValuesInEveryKind() throws {
        let w = 6, h = 4
        let labels = pattern(w * h, modulo: 4).enumerated().map { $0.offset == 3 ? 200 : $0.element }
        let rgb = labels.flatMap { [$0, $0, $0] }
        // A palette whose colours have nothing to do with the indices.
        let palette: [[UInt8]] = (0...200).map { [UInt8(255 - $0), UInt8($0 / 2), 7, 255] }
        let kinds: [PNGImage] = [
            PNGImage(width: w, height: h, kind: .grey, samples: labels),
            PNGImage(width: w, height: h, kind: .grey, bitDepth: 16, samples: labels),
            PNGImage(width: w, height: h, kind: .rgb, samples: rgb),
            PNGImage(width: w, height: h, kind: .palette, samples: labels, palette: palette),
        ]
        for image in kinds {
            let back = try PNGImage(bytes: try image.encoded(), file: "x.png")
            XCTAssertEqual(try back.labelValues(file: "x.png"), labels, "\(image.kind) \(image.bitDepth)")
        }
    }

    func testGreyValuesOfColourAndPaletteImages() throws {
        let rgb = PNGImage(width: 2, height: 1, kind: .rgb, samples: [10, 20, 30, 5, 5, 5])
        XCTAssertEqual(rgb.greyValues(), [20, 5])
        let pal = PNGImage(width: 2, height: 1, kind: .palette, samples: [1, 0],
                           palette: [[0, 0, 0, 255], [30, 60, 90, 255]])
        XCTAssertEqual(pal.greyValues(), [60, 0])
    }

    /// Sub-8-bit files (which libpng's simplified writer cannot produce) built byte by byte.
    func testHandmadeLowBitDepthGreyAndPalette() throws {
        // 2-bit grey, 5x2: values 0...3 packed four per byte, MSB first.
        let grey = HandmadePNG.file(width: 5, height: 2, bitDepth: 2, colorType: 0,
                                    rows: [[0b00_01_10_11, 0b01_000000], [0b11_10_01_00, 0b10_000000]])
        let g = try PNGImage(bytes: Data(grey), file: "g.png")
        XCTAssertEqual(g.kind, .grey)
        XCTAssertEqual(g.samples, [0, 1, 2, 3, 1, 3, 2, 1, 0, 2])
        XCTAssertEqual(try g.labelValues(file: "g.png"), g.samples)
        // 4-bit palette, 3x1, indices 2, 0, 1.
        let pal = HandmadePNG.file(width: 3, height: 1, bitDepth: 4, colorType: 3, rows: [[0x20, 0x10]],
                                   palette: [[10, 20, 30], [40, 50, 60], [70, 80, 90]])
        let p = try PNGImage(bytes: Data(pal), file: "p.png")
        XCTAssertEqual(p.kind, .palette)
        XCTAssertEqual(p.samples, [2, 0, 1])
        XCTAssertEqual(p.palette.map { Array($0.prefix(3)) }, [[10, 20, 30], [40, 50, 60], [70, 80, 90]])
    }

    func testColourLabelPixelIsRejected() {
        let image = PNGImage(width: 2, height: 1, kind: .rgb, samples: [1, 1, 1, 2, 0, 2])
        XCTAssertThrowsError(try image.labelValues(file: "lab.png")) { error in
            XCTAssertEqual((error as? DatasetError)?.kind, .corrupt)
            XCTAssertTrue("\(error)".contains("lab.png"))
        }
    }

    func testSixteenBitAlphaIsNotWritten() {
        let image = PNGImage(width: 1, height: 1, kind: .rgba, bitDepth: 16, samples: [1, 2, 3, 4])
        assertDatasetError(.unsupported, file: "a16.png") { try image.write(to: tmp.appendingPathComponent("a16.png")) }
    }

    // MARK: bad input

    private func validFile() throws -> [UInt8] {
        [UInt8](try PNGImage(width: 16, height: 16, kind: .grey, samples: pattern(256, modulo: 251)).encoded())
    }

    private func read(_ bytes: [UInt8], _ name: String) throws {
        let url = tmp.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        _ = try PNGImage(contentsOf: url)
    }

    func testTruncatedPNGIsRejected() throws {
        let bytes = try validFile()
        assertDatasetError(.truncated, file: "half.png") { try read(Array(bytes.prefix(bytes.count / 2)), "half.png") }
        assertDatasetError(.truncated, file: "head.png") { try read(Array(bytes.prefix(20)), "head.png") }
        assertDatasetError(.truncated, file: "noiend.png") { try read(Array(bytes.dropLast(12)), "noiend.png") }
    }

    func testCorruptPNGIsRejected() throws {
        var bytes = try validFile()
        bytes[bytes.count - 20] ^= 0xff   // inside IDAT: CRC mismatch
        assertDatasetError(.corrupt, file: "crc.png") { try read(bytes, "crc.png") }
        assertDatasetError(.corrupt, file: "text.png") { try read(Array("hello, not a png at all".utf8), "text.png") }
        var ihdr = try validFile()
        ihdr[12] = UInt8(ascii: "X")
        assertDatasetError(.corrupt, file: "ihdr.png") { try read(ihdr, "ihdr.png") }
    }
}
