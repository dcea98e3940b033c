/// One picture in a montage: H x W grey values and optional class indices to overlay.
public struct MontageTile: Sendable {
    public let width: Int
    public let height: Int
    public let grey: [Float]
    public let labels: [UInt8]?

    public init(width: Int, height: Int, grey: [Float], labels: [UInt8]?) {
        precondition(grey.count == width * height && (labels?.count ?? grey.count) == grey.count, "tile sizes")
        self.width = width
        self.height = height
        self.grey = grey
        self.labels = labels
    }
}

/// RGB picture grids of slices with label overlays, for a person to look at.
public enum Montage {
    /// Overlay colours by class (1 RV red, 2 Myo green, 3 LV blue; further classes cycle).
    public static let classColours: [SIMD3<Float>] = [
        [230, 57, 70], [46, 184, 92], [58, 134, 255], [255, 190, 11], [180, 90, 220],
    ]

    /// Tiles in rows of `columns`, each cell as large as the largest tile (tiles centred, `gap`
    /// black pixels between). Grey is windowed to its 1st-99th percentile; labels are blended at
    /// `opacity` inside and drawn solid on their boundaries.
    public static func render(_ tiles: [MontageTile], columns: Int, gap: Int = 4, opacity: Float = 0.4) -> PNGImage {
        precondition(!tiles.isEmpty && columns >= 1, "montage needs tiles and columns")
        let cellW = tiles.map(\.width).max()!, cellH = tiles.map(\.height).max()!
        let rows = (tiles.count + columns - 1) / columns
        let width = columns * cellW + (columns + 1) * gap, height = rows * cellH + (rows + 1) * gap
        var rgb = [UInt16](repeating: 0, count: width * height * 3)
        for (n, tile) in tiles.enumerated() {
            let x0 = gap + (n % columns) * (cellW + gap) + (cellW - tile.width) / 2
            let y0 = gap + (n / columns) * (cellH + gap) + (cellH - tile.height) / 2
            let colours = colourise(tile, opacity: opacity)
            for y in 0..<tile.height {
                for x in 0..<tile.width {
                    let o = ((y0 + y) * width + x0 + x) * 3, c = colours[y * tile.width + x]
                    for k in 0..<3 { rgb[o + k] = UInt16(min(max(c[k].rounded(), 0), 255)) }
                }
            }
        }
        return PNGImage(width: width, height: height, kind: .rgb, samples: rgb)
    }

    private static func colourise(_ tile: MontageTile, opacity: Float) -> [SIMD3<Float>] {
        let sorted = tile.grey.sorted()
        let lo = sorted[sorted.count / 100], hi = sorted[(sorted.count - 1) * 99 / 100]
        let scale = hi > lo ? 255 / (hi - lo) : 0
        let w = tile.width, h = tile.height
        return (0..<(w * h)).map { i in
            let g = min(max((tile.grey[i] - lo) * scale, 0), 255)
            let grey = SIMD3(repeating: g)
            guard let labels = tile.labels, labels[i] > 0 else { return grey }
            let l = labels[i], colour = classColours[Int(l - 1) % classColours.count]
            let x = i % w, y = i / w
            let boundary = (x > 0 && labels[i - 1] != l) || (x < w - 1 && labels[i + 1] != l)
                || (y > 0 && labels[i - w] != l) || (y < h - 1 && labels[i + w] != l)
            return boundary ? colour : grey + (colour - grey) * opacity
        }
    }

    /// A preview of up to `maxVolumes` volumes: one row each with the middle slice without
    /// overlay, then the basal, middle and apical slices with their labels.
    public static func preview(_ volumes: [Volume], maxVolumes: Int = 4) -> PNGImage {
        var tiles: [MontageTile] = []
        for v in volumes.prefix(maxVolumes) {
            let size = v.sliceSize
            func tile(_ z: Int, overlay: Bool) -> MontageTile {
                MontageTile(width: v.width, height: v.height, grey: Array(v.image[z * size ..< (z + 1) * size]),
                            labels: overlay ? v.labels.map { Array($0[z * size ..< (z + 1) * size]) } : nil)
            }
            let mid = v.depth / 2
            tiles += [tile(mid, overlay: false), tile(0, overlay: true), tile(mid, overlay: true),
                      tile(v.depth - 1, overlay: true)]
        }
        return render(tiles, columns: 4)
    }
}
