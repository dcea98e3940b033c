import Foundation
@testable import Datasets

/// Test helper: writes volumes in the reference's PNG layout (`imgs/<volume>/<volume>_NNN.png` as
/// 8-bit RGB, `annotations/<volume>/<volume>_NNN.png` as 8-bit grey labels), the layout
/// `DatasetIndex` reads back as `.png`. Production never writes this layout, so it lives here.
enum ReferencePNGExport {
    /// Each volume's intensities are mapped linearly from its minimum...maximum to 0...255.
    static func write(_ volumes: [Volume], to root: URL) throws {
        for v in volumes {
            let imageFolder = root.appendingPathComponent("imgs").appendingPathComponent(v.name)
            let labelFolder = root.appendingPathComponent("annotations").appendingPathComponent(v.name)
            do {
                try FileManager.default.createDirectory(at: imageFolder, withIntermediateDirectories: true)
                try FileManager.default.createDirectory(at: labelFolder, withIntermediateDirectories: true)
            } catch {
                throw DatasetError(file: imageFolder.path, .io,
                                   "cannot create folder (\(error.localizedDescription))")
            }
            let low = v.image.min() ?? 0, high = v.image.max() ?? 0
            let scale = high > low ? 255 / (high - low) : 0
            for z in 0..<v.depth {
                let name = v.name + String(format: "_%03d.png", z)
                let plane = v.image[z * v.sliceSize ..< (z + 1) * v.sliceSize]
                let grey = plane.map { UInt16(((($0 - low) * scale).rounded()).clamped(to: 0...255)) }
                try PNGImage(width: v.width, height: v.height, kind: .rgb, samples: grey.flatMap { [$0, $0, $0] })
                    .write(to: imageFolder.appendingPathComponent(name))
                if let labels = v.labels {
                    let slice = labels[z * v.sliceSize ..< (z + 1) * v.sliceSize].map(UInt16.init)
                    try PNGImage(width: v.width, height: v.height, kind: .grey, samples: slice)
                        .write(to: labelFolder.appendingPathComponent(name))
                }
            }
        }
    }
}

private extension Float {
    func clamped(to range: ClosedRange<Float>) -> Float {
        Swift.min(Swift.max(self, range.lowerBound), range.upperBound)
    }
}
