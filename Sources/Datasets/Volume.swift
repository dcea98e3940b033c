/// Voxel spacing of a slice stack in millimetres.
public struct Spacing: Equatable, Codable, Sendable {
    /// Distance between rows (NIfTI y, pixdim[2]).
    public var row: Double
    /// Distance between columns (NIfTI x, pixdim[1]).
    public var column: Double
    /// Distance between slices, the slice thickness of a short-axis stack (NIfTI z, pixdim[3]).
    public var slice: Double

    public init(row: Double, column: Double, slice: Double) {
        self.row = row
        self.column = column
        self.slice = slice
    }

    /// True if every component agrees within a relative tolerance of 1e-4.
    public func matches(_ other: Spacing) -> Bool {
        func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-4 * max(abs(a), abs(b)) }
        return close(row, other.row) && close(column, other.column) && close(slice, other.slice)
    }
}

/// One 3D scan (one frame of one patient) as a stack of D slices of H x W pixels.
///
/// Layout: slice-major, voxel (z, r, c) at `z * H * W + r * W + c`. This is NIfTI's x-fastest
/// order with rows = y and columns = x, the orientation the reference's PNG slices use.
public struct Volume: Sendable {
    public let patient: String
    /// Volume name, e.g. `patient001_frame01`.
    public let name: String
    /// "ED" or "ES" when the layout says so (ACDC Info.cfg), else nil.
    public let phase: String?
    public let depth: Int
    public let height: Int
    public let width: Int
    public let spacing: Spacing
    /// D x H x W intensities (z-scored per volume when loaded with normalisation).
    public var image: [Float]
    /// D x H x W class indices in 0..<classes, nil when the volume has no labels.
    public var labels: [UInt8]?
    /// The source image's NIfTI header (nil for PNG slices): the geometry predictions are written with.
    public let geometry: NIfTIHeader?
    public let imageFile: String
    public let labelFile: String?

    public init(patient: String, name: String, phase: String? = nil, depth: Int, height: Int, width: Int,
                spacing: Spacing, image: [Float], labels: [UInt8]?, geometry: NIfTIHeader?,
                imageFile: String, labelFile: String?) {
        precondition(image.count == depth * height * width, "\(image.count) voxels for \(depth)x\(height)x\(width)")
        precondition(labels.map { $0.count == image.count } ?? true, "label count differs from image count")
        self.patient = patient
        self.name = name
        self.phase = phase
        self.depth = depth
        self.height = height
        self.width = width
        self.spacing = spacing
        self.image = image
        self.labels = labels
        self.geometry = geometry
        self.imageFile = imageFile
        self.labelFile = labelFile
    }

    public var sliceSize: Int { height * width }

    /// A label image for this volume, `labels` (D x H x W, this volume's layout) as uint8 with
    /// the source's geometry (header and affine), ready to write as `<name>_pred.nii.gz`.
    public func prediction(_ labels: [UInt8]) -> NIfTIImage {
        precondition(labels.count == image.count, "prediction has \(labels.count) voxels, volume \(image.count)")
        let values = labels.map(Float.init)
        if let geometry {
            return NIfTIImage(header: geometry, data: [Float](repeating: 0, count: image.count))
                .replacingData(values, datatype: .uint8)
        }
        let header = NIfTIHeader(shape: [width, height, depth], spacing: [spacing.column, spacing.row, spacing.slice],
                                 datatype: .uint8)
        return NIfTIImage(header: header, data: values)
    }
}

extension Volume {
    /// Rescales `image` in place to zero mean and unit variance over the whole volume (paper's
    /// per-volume normalisation). A constant volume becomes all zeros.
    public mutating func normalise() {
        let n = image.count
        guard n > 0 else { return }
        image.withUnsafeMutableBufferPointer { buffer in
            let p = buffer.baseAddress!
            var sum = 0.0
            for i in 0..<n { sum += Double(p[i]) }
            let mean = sum / Double(n)
            var squares = 0.0
            for i in 0..<n { let d = Double(p[i]) - mean; squares += d * d }
            let std = (squares / Double(n)).squareRoot()
            let scale = Float(std > 1e-12 ? 1 / std : 0)
            let shift = Float(mean)
            for i in 0..<n { p[i] = (p[i] - shift) * scale }
        }
    }
}
