import Datasets
import Foundation

/// One test volume drawn for the report: a slice of the image with the reference contours (left
/// panel) and the predicted contours (right panel) in class colours.
struct Overlay {
    let png: Data
    /// The slice shown (0-based) and the volume's slice count.
    let slice: Int
    let depth: Int

    /// The images of a run's data (`data.root`, scanned once).
    struct Source {
        let index: DatasetIndex
        let classes: Int

        /// Reads the volume `name` (image and reference labels) and its prediction file.
        func render(volume name: String, prediction: URL) throws -> Overlay {
            guard let source = index.volumes.first(where: { $0.name == name }) else {
                throw ReportError(path: index.root.path, message: "test volume \(name) is not in the dataset "
                                  + "(the run's data.root holds other data than the run used)")
            }
            guard FileManager.default.fileExists(atPath: prediction.path) else {
                throw ReportError(path: prediction.path, message: "missing prediction of test volume \(name) "
                                  + "(train writes one per volume; the run folder is incomplete)")
            }
            let volume = try index.load(patients: [source.patient], classes: classes, normalise: false)
                .first { $0.name == name }!
            guard let reference = volume.labels else {
                throw ReportError(path: volume.imageFile, message: "no reference labels for \(name)")
            }
            let predicted = try NIfTIImage(contentsOf: prediction).data
            guard predicted.count == reference.count else {
                throw ReportError(path: prediction.path, message: "\(predicted.count) voxels, the volume "
                                  + "\(volume.imageFile) has \(reference.count) (a prediction of another volume?)")
            }
            let labels = predicted.map { $0.isFinite ? UInt8(max(0, min(255, $0.rounded()))) : 0 }
            let z = Self.slice(reference, depth: volume.depth, sliceSize: volume.sliceSize)
            let png = try Self.draw(volume: volume, z: z, reference: reference, predicted: labels, classes: classes)
            return Overlay(png: png, slice: z, depth: volume.depth)
        }

        /// The slice with the most reference foreground (ties: the one nearest the middle).
        static func slice(_ labels: [UInt8], depth: Int, sliceSize: Int) -> Int {
            let counts = (0..<depth).map { z in labels[z * sliceSize ..< (z + 1) * sliceSize].count { $0 != 0 } }
            return (0..<depth).max { a, b in
                counts[a] != counts[b] ? counts[a] < counts[b] : abs(2 * a - depth + 1) > abs(2 * b - depth + 1)
            } ?? 0
        }

        /// Two panels of W*s x H*s pixels (s scales the slice to about 320 pixels), 4 pixels apart.
        static func draw(volume: Volume, z: Int, reference: [UInt8], predicted: [UInt8], classes: Int) throws -> Data {
            let (h, w) = (volume.height, volume.width)
            let s = max(1, Int((320.0 / Double(max(h, w))).rounded(.up)))
            let (pw, ph, gap) = (w * s, h * s, 4)
            var canvas = Canvas(width: 2 * pw + gap, height: ph, fill: RGB(40, 40, 40))
            let range = z * h * w ..< (z + 1) * h * w
            let grey = Self.grey(Array(volume.image[range]))
            for (panel, labels) in [Array(reference[range]), Array(predicted[range])].enumerated() {
                let x0 = panel * (pw + gap)
                for y in 0..<ph {
                    for x in 0..<pw {
                        let g = grey[(y / s) * w + x / s]
                        canvas.set(x0 + x, y, RGB(g, g, g))
                        let c = Int(labels[(y / s) * w + x / s])
                        guard c > 0, c < classes, isEdge(labels, x: x, y: y, s: s, w: w, h: h) else { continue }
                        canvas.set(x0 + x, y, RGB.cycling(RGB.classes, c - 1))
                    }
                }
            }
            return try canvas.png()
        }

        /// True when upscaled pixel (x, y) has another label or the image's edge within `s / 2 + 1`
        /// pixels along a row or column (contours of that width, inside the region).
        private static func isEdge(_ labels: [UInt8], x: Int, y: Int, s: Int, w: Int, h: Int) -> Bool {
            let c = labels[(y / s) * w + x / s]
            for d in 1...(s / 2 + 1) {
                for (nx, ny) in [(x - d, y), (x + d, y), (x, y - d), (x, y + d)] {
                    if nx < 0 || ny < 0 || nx >= w * s || ny >= h * s { return true }
                    if labels[(ny / s) * w + nx / s] != c { return true }
                }
            }
            return false
        }

        /// Intensities windowed to their 1st and 99th percentiles, as 0...255.
        static func grey(_ values: [Float]) -> [UInt8] {
            let sorted = values.sorted()
            guard let first = sorted.first else { return [] }
            let lo = sorted[Int(Double(sorted.count - 1) * 0.01)], hi = sorted[Int(Double(sorted.count - 1) * 0.99)]
            let span = hi > lo ? hi - lo : max(abs(first), 1)
            return values.map { UInt8(clamping: Int((($0 - lo) / span * 255).rounded())) }
        }
    }
}
