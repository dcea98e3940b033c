import Datasets
import Foundation

/// An RGB raster (H x W x 3 bytes, row-major) for the PNG copies of figures, with the few
/// primitives the report needs: lines, rectangles and a 3 x 5 pixel font for numbers.
struct Canvas {
    let width: Int
    let height: Int
    /// H x W x 3 samples.
    var pixels: [UInt8]

    init(width: Int, height: Int, fill: RGB = RGB(255, 255, 255)) {
        precondition(width > 0 && height > 0, "empty canvas \(width)x\(height)")
        self.width = width
        self.height = height
        pixels = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) {
            (pixels[3 * i], pixels[3 * i + 1], pixels[3 * i + 2]) = (fill.r, fill.g, fill.b)
        }
    }

    mutating func set(_ x: Int, _ y: Int, _ c: RGB) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let i = 3 * (y * width + x)
        (pixels[i], pixels[i + 1], pixels[i + 2]) = (c.r, c.g, c.b)
    }

    mutating func fill(x: Int, y: Int, width w: Int, height h: Int, _ c: RGB) {
        for yy in y..<(y + h) { for xx in x..<(x + w) { set(xx, yy, c) } }
    }

    /// A straight line (Bresenham), `thickness` pixels wide as a square pen.
    mutating func line(_ x0: Double, _ y0: Double, _ x1: Double, _ y1: Double, _ c: RGB, thickness: Int = 1) {
        var (x, y) = (Int(x0.rounded()), Int(y0.rounded()))
        let (xe, ye) = (Int(x1.rounded()), Int(y1.rounded()))
        let (dx, dy) = (abs(xe - x), -abs(ye - y))
        let (sx, sy) = (x < xe ? 1 : -1, y < ye ? 1 : -1)
        var err = dx + dy
        let lo = -(thickness - 1) / 2, hi = thickness / 2
        while true {
            for oy in lo...hi { for ox in lo...hi { set(x + ox, y + oy, c) } }
            if x == xe && y == ye { break }
            let e2 = 2 * err
            if e2 >= dy { err += dy; x += sx }
            if e2 <= dx { err += dx; y += sy }
        }
    }

    /// `text` (digits, `.`, `-`, `+`, `e`) with its top-left corner at (x, y), each font pixel
    /// `scale` x `scale`; other characters are left blank. Returns the width drawn.
    @discardableResult
    mutating func text(_ text: String, x: Int, y: Int, _ c: RGB, scale: Int = 2) -> Int {
        var cx = x
        for ch in text {
            if let rows = Self.font[ch] {
                for (r, bits) in rows.enumerated() {
                    for col in 0..<3 where bits & (4 >> col) != 0 {
                        fill(x: cx + col * scale, y: y + r * scale, width: scale, height: scale, c)
                    }
                }
            }
            cx += 4 * scale
        }
        return cx - x - scale
    }

    /// Width of `text` drawn at `scale`.
    static func textWidth(_ text: String, scale: Int = 2) -> Int { max(0, text.count * 4 * scale - scale) }

    /// The PNG file bytes (8-bit RGB, libpng).
    func png() throws -> Data {
        try PNGImage(width: width, height: height, kind: .rgb, samples: pixels.map(UInt16.init)).encoded()
    }

    /// 3 x 5 glyphs, one 3-bit row each, top to bottom (bit 2 = left column).
    static let font: [Character: [UInt8]] = [
        "0": [7, 5, 5, 5, 7], "1": [2, 6, 2, 2, 7], "2": [7, 1, 7, 4, 7], "3": [7, 1, 7, 1, 7],
        "4": [5, 5, 7, 1, 1], "5": [7, 4, 7, 1, 7], "6": [7, 4, 7, 5, 7], "7": [7, 1, 1, 1, 1],
        "8": [7, 5, 7, 5, 7], "9": [7, 5, 7, 1, 7], ".": [0, 0, 0, 0, 2], "-": [0, 0, 7, 0, 0],
        "+": [0, 2, 7, 2, 0], "e": [0, 7, 7, 4, 7],
    ]
}
