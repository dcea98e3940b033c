import Config
import Datasets
import Embeddings
import Foundation
import Runs
import Training

/// One NIfTI file outside a dataset layout (the inputs of `predict`, the prediction and label
/// folders of `evaluate`), read as a stack of D slices of H x W with the checks the dataset
/// loader applies: 2D or 3D (extra dims of size 1), positive finite spacing. Errors are
/// `DatasetError`s naming the file.
///
/// Voxel order is NIfTI's x fastest, i.e. (z, y, x) = slice, row, column: the `Volume` layout.
public struct NIfTIStack {
    public let url: URL
    public let image: NIfTIImage
    public let depth: Int
    public let height: Int
    public let width: Int
    public let spacing: Spacing

    public init(contentsOf url: URL) throws {
        let image = try NIfTIImage(contentsOf: url)
        let shape = image.shape
        guard shape.count >= 2, shape.dropFirst(3).allSatisfy({ $0 == 1 }) else {
            throw DatasetError(file: url.path, .unsupported,
                               "dims \(shape): expected a 2D or 3D volume (one frame per file; 4D series are not read)")
        }
        let (width, height, depth) = (shape[0], shape[1], shape.count > 2 ? shape[2] : 1)
        let p = image.header.pixdim
        let slice = depth == 1 && !(p[3] > 0) ? 1 : Double(abs(p[3]))
        let spacing = Spacing(row: Double(abs(p[2])), column: Double(abs(p[1])), slice: slice)
        for (axis, v) in [("x", spacing.column), ("y", spacing.row), ("z", spacing.slice)]
        where !(v > 0 && v.isFinite) {
            throw DatasetError(file: url.path, .corrupt, "voxel spacing along \(axis) is \(v); pixdim must be positive")
        }
        (self.url, self.image, self.spacing) = (url, image, spacing)
        (self.depth, self.height, self.width) = (depth, height, width)
    }

    /// (D, H, W) as the metrics see it.
    public var shape: [Int] { [depth, height, width] }

    /// The file name without `.nii.gz` / `.nii`.
    public var stem: String { NIfTIStack.stem(url.lastPathComponent) ?? url.lastPathComponent }

    /// Voxels as class indices; each must be an integer in 0..<classes.
    public func classIndices(classes: Int) throws -> [UInt8] {
        let limit = Float(classes)
        if let i = image.data.firstIndex(where: { !($0 >= 0 && $0 < limit && $0 == $0.rounded()) }) {
            throw DatasetError(file: url.path, .labelOutOfRange,
                               "value \(image.data[i]) at voxel \(voxel(i)); expected an integer in 0...\(classes - 1)")
        }
        return image.data.map { UInt8($0) }
    }

    /// The image as an unlabelled volume named `name`, z-scored over the whole volume as the
    /// dataset loader does for training (`Volume.normalise`), carrying this file's header.
    public func volume(name: String) throws -> Volume {
        if let i = image.data.firstIndex(where: { !$0.isFinite }) {
            throw DatasetError(file: url.path, .nonFinite, "voxel \(voxel(i)) is \(image.data[i])")
        }
        var volume = Volume(patient: name, name: name, depth: depth, height: height, width: width, spacing: spacing,
                            image: image.data, labels: nil, geometry: image.header, imageFile: url.path, labelFile: nil)
        volume.normalise()
        return volume
    }

    private func voxel(_ i: Int) -> String {
        "(x \(i % width), y \(i / width % height), z \(i / (width * height)))"
    }

    /// `name` without `.nii.gz` / `.nii`, nil when it is not a NIfTI file name.
    public static func stem(_ name: String) -> String? {
        for ext in [".nii.gz", ".nii"] where name.hasSuffix(ext) && name.count > ext.count {
            return String(name.dropLast(ext.count))
        }
        return nil
    }

    /// The NIfTI files in `folder` (and its subfolders with `recursive`), hidden files skipped,
    /// sorted by path.
    public static func files(in folder: URL, recursive: Bool = false) throws -> [URL] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory),
              isDirectory.boolValue else {
            throw DatasetError(file: folder.path, .missingFile, "folder does not exist")
        }
        let names: [String]
        do {
            names = recursive ? try FileManager.default.subpathsOfDirectory(atPath: folder.path)
                : try FileManager.default.contentsOfDirectory(atPath: folder.path)
        } catch {
            throw DatasetError(file: folder.path, .io, "cannot list folder (\(error.localizedDescription))")
        }
        return names.filter { path in
            let name = (path as NSString).lastPathComponent
            return !path.split(separator: "/").contains { $0.hasPrefix(".") } && stem(name) != nil
        }.sorted().map { folder.appendingPathComponent($0) }
    }
}
