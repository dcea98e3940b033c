import Foundation

/// Reads one `VolumeSource` into a validated `Volume`: finite intensities, labels with the image's
/// shape and spacing and values in 0..<classes.
enum VolumeLoader {
    static func load(_ source: VolumeSource, classes: Int, normalise: Bool) throws -> Volume {
        precondition((1...256).contains(classes), "classes \(classes) outside 1...256")
        var volume: Volume
        switch source.storage {
        case let .nifti(image, label):
            volume = try loadNIfTI(source, image: image, label: label, classes: classes)
        case let .pngSlices(images, labels):
            volume = try loadPNG(source, images: images, labels: labels, classes: classes)
        }
        if normalise { volume.normalise() }
        return volume
    }

    // MARK: NIfTI

    private static func loadNIfTI(_ source: VolumeSource, image imageURL: URL, label labelURL: URL?,
                                  classes: Int) throws -> Volume {
        let image = try NIfTIImage(contentsOf: imageURL)
        let (width, height, depth) = try stackShape(image.header, file: imageURL.path)
        let spacing = try stackSpacing(image.header, depth: depth, file: imageURL.path)
        try checkFinite(image.data, width: width, height: height, file: imageURL.path)
        var labels: [UInt8]?
        if let labelURL {
            let label = try NIfTIImage(contentsOf: labelURL)
            guard label.shape == image.shape else {
                throw DatasetError(file: labelURL.path, .shapeMismatch,
                                   "label dims \(label.shape) differ from image dims \(image.shape) "
                                   + "(\(imageURL.lastPathComponent))")
            }
            let labelSpacing = try stackSpacing(label.header, depth: depth, file: labelURL.path)
            guard labelSpacing.matches(spacing) else {
                throw DatasetError(file: labelURL.path, .spacingMismatch,
                                   "label spacing \(describe(labelSpacing)) "
                                   + "differs from image spacing \(describe(spacing))")
            }
            labels = try classIndices(label.data, classes: classes, width: width, height: height, file: labelURL.path)
        }
        return Volume(patient: source.patient, name: source.name, phase: source.phase, depth: depth, height: height,
                      width: width, spacing: spacing, image: image.data, labels: labels, geometry: image.header,
                      imageFile: imageURL.path, labelFile: labelURL?.path)
    }

    /// (W, H, D) of a 2D or 3D image; extra dimensions must have size 1.
    private static func stackShape(_ header: NIfTIHeader, file: String) throws -> (Int, Int, Int) {
        let shape = header.shape
        guard shape.count >= 2, shape.dropFirst(3).allSatisfy({ $0 == 1 }) else {
            throw DatasetError(file: file, .unsupported,
                               "dims \(shape): expected a 2D or 3D volume (one frame per file; 4D series are not read)")
        }
        return (shape[0], shape[1], shape.count > 2 ? shape[2] : 1)
    }

    private static func stackSpacing(_ header: NIfTIHeader, depth: Int, file: String) throws -> Spacing {
        let p = header.pixdim
        let slice = depth == 1 && !(p[3] > 0) ? 1 : Double(abs(p[3]))
        let spacing = Spacing(row: Double(abs(p[2])), column: Double(abs(p[1])), slice: slice)
        let axes = [("x", spacing.column), ("y", spacing.row), ("z", spacing.slice)]
        for (axis, v) in axes where !(v > 0 && v.isFinite) {
            throw DatasetError(file: file, .corrupt, "voxel spacing along \(axis) is \(v); pixdim must be positive")
        }
        return spacing
    }

    private static func describe(_ s: Spacing) -> String { "\(s.column) x \(s.row) x \(s.slice) mm" }

    private static func checkFinite(_ data: [Float], width: Int, height: Int, file: String) throws {
        guard let i = data.firstIndex(where: { !$0.isFinite }) else { return }
        throw DatasetError(file: file, .nonFinite,
                           "voxel (x \(i % width), y \(i / width % height), z \(i / (width * height))) is \(data[i])")
    }

    /// Label voxels as class indices; each must be an integer in 0..<classes.
    private static func classIndices(_ data: [Float], classes: Int, width: Int, height: Int, file: String) throws
        -> [UInt8] {
        var out = [UInt8](repeating: 0, count: data.count)
        let limit = Float(classes)
        let bad: Int? = data.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<src.count {
                    let v = src[i]
                    guard v >= 0, v < limit, v == v.rounded() else { return i }
                    dst[i] = UInt8(v)
                }
                return nil
            }
        }
        if let i = bad {
            throw DatasetError(file: file, .labelOutOfRange,
                               "label \(data[i]) at voxel "
                               + "(x \(i % width), y \(i / width % height), z \(i / (width * height))); "
                               + "expected an integer in 0...\(classes - 1)")
        }
        return out
    }

    // MARK: PNG slices

    private static func loadPNG(_ source: VolumeSource, images: [URL], labels: [URL]?, classes: Int) throws -> Volume {
        var image: [Float] = [], labelValues: [UInt8] = []
        var width = 0, height = 0
        for (z, url) in images.enumerated() {
            let slice = try PNGImage(contentsOf: url)
            if z == 0 { (width, height) = (slice.width, slice.height) }
            guard slice.width == width, slice.height == height else {
                throw DatasetError(file: url.path, .shapeMismatch,
                                   "slice is \(slice.width)x\(slice.height), "
                                   + "the volume's first slice \(width)x\(height)")
            }
            image += slice.greyValues()
            guard let labelURL = labels?[z] else { continue }
            let label = try PNGImage(contentsOf: labelURL)
            guard label.width == width, label.height == height else {
                throw DatasetError(file: labelURL.path, .shapeMismatch,
                                   "label is \(label.width)x\(label.height), "
                                   + "image \(url.lastPathComponent) \(width)x\(height)")
            }
            let values = try label.labelValues(file: labelURL.path)
            if let i = values.firstIndex(where: { Int($0) >= classes }) {
                throw DatasetError(file: labelURL.path, .labelOutOfRange,
                                   "label \(values[i]) at (row \(i / width), "
                                   + "column \(i % width)); expected 0...\(classes - 1)")
            }
            labelValues += values.map { UInt8($0) }
        }
        return Volume(patient: source.patient, name: source.name, phase: source.phase, depth: images.count,
                      height: height, width: width, spacing: Spacing(row: 1, column: 1, slice: 1), image: image,
                      labels: labels == nil ? nil : labelValues, geometry: nil,
                      imageFile: images[0].deletingLastPathComponent().path,
                      labelFile: labels?[0].deletingLastPathComponent().path)
    }
}
