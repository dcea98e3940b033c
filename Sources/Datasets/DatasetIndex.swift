import Foundation

/// The folder layouts we read (DESIGN §3.6).
public enum DatasetLayout: String, Codable, Sendable, CaseIterable {
    /// ACDC raw: `patientNNN/patientNNN_frameMM.nii.gz`, `patientNNN_frameMM_gt.nii.gz`, `Info.cfg`.
    case acdc
    /// Medical Segmentation Decathlon: `imagesTr/<case>[_0000].nii.gz`, `labelsTr/<case>.nii.gz`.
    case msd
    /// The reference's slices: `imgs/<case>_frameMM/<...>_NNN.png`, `annotations/` with the same names.
    case png
}

/// Where one volume's image and labels are, before anything is read.
public struct VolumeSource: Sendable, Equatable {
    public enum Storage: Sendable, Equatable {
        case nifti(image: URL, label: URL?)
        /// One PNG per slice, in slice order.
        case pngSlices(images: [URL], labels: [URL]?)
    }

    public let patient: String
    public let name: String
    /// "ED" / "ES" from ACDC's Info.cfg, else nil.
    public let phase: String?
    public let storage: Storage
}

/// The volumes of a dataset folder, found by name only (nothing is decoded yet), sorted by name.
public struct DatasetIndex: Sendable {
    public let root: URL
    public let layout: DatasetLayout
    public let volumes: [VolumeSource]

    /// Patient ids, sorted.
    public var patients: [String] { Array(Set(volumes.map(\.patient))).sorted() }

    /// Scans `root`. The layout is detected when nil: `imagesTr/` means MSD, `imgs/` the PNG
    /// layout, patient folders with `*_frameNN.nii[.gz]` ACDC. With `requireLabels` every image
    /// must have its label file.
    public static func scan(_ root: URL, layout: DatasetLayout? = nil, requireLabels: Bool = true) throws
        -> DatasetIndex {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw DatasetError(file: root.path, .missingFile, "dataset folder does not exist")
        }
        let found = try layout ?? detect(root)
        let volumes: [VolumeSource]
        switch found {
        case .acdc: volumes = try LayoutScanner.acdc(root, requireLabels: requireLabels)
        case .msd: volumes = try LayoutScanner.msd(root, requireLabels: requireLabels)
        case .png: volumes = try LayoutScanner.png(root, requireLabels: requireLabels)
        }
        return DatasetIndex(root: root, layout: found, volumes: volumes.sorted { $0.name < $1.name })
    }

    /// The volumes of `patients` (every frame of each), in index order.
    public func volumes(of patients: [String]) -> [VolumeSource] {
        let wanted = Set(patients)
        return volumes.filter { wanted.contains($0.patient) }
    }

    /// Reads, validates and (optionally) z-scores the volumes of `patients` (all when nil).
    public func load(patients: [String]? = nil, classes: Int = 4, normalise: Bool = true) throws -> [Volume] {
        if let patients {
            let known = Set(self.patients)
            if let unknown = patients.first(where: { !known.contains($0) }) {
                throw DatasetError(file: root.path, .missingFile, "patient \(unknown) is not in this dataset")
            }
        }
        let sources = patients.map { volumes(of: $0) } ?? volumes
        return try sources.map { try VolumeLoader.load($0, classes: classes, normalise: normalise) }
    }

    private static func detect(_ root: URL) throws -> DatasetLayout {
        let fm = FileManager.default
        if fm.fileExists(atPath: root.appendingPathComponent("imagesTr").path) { return .msd }
        if fm.fileExists(atPath: root.appendingPathComponent("imgs").path) { return .png }
        let entries = try LayoutScanner.listing(root)
        if entries.contains(where: { LayoutScanner.isDirectory($0) }) { return .acdc }
        throw DatasetError(file: root.path, .emptyFolder,
                           "no ACDC patient folders (patientNNN/patientNNN_frameNN.nii.gz), "
                           + "MSD imagesTr/ or reference imgs/ found")
    }
}
