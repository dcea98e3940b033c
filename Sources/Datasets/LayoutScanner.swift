import Foundation

/// Finds the volumes of each layout by file name.
enum LayoutScanner {
    /// Visible entries of a folder (no dot files such as macOS `._x.nii.gz`), sorted by name.
    static func listing(_ folder: URL) throws -> [URL] {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: folder.path) } catch {
            throw DatasetError(file: folder.path, .io, "cannot list folder (\(error.localizedDescription))")
        }
        return names.filter { !$0.hasPrefix(".") }.sorted().map { folder.appendingPathComponent($0) }
    }

    static func isDirectory(_ url: URL) -> Bool {
        var flag: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &flag) && flag.boolValue
    }

    static func exists(_ url: URL) -> Bool { FileManager.default.fileExists(atPath: url.path) }

    /// `name` without `.nii.gz` / `.nii`, or nil if it is not a NIfTI file name.
    static func niftiStem(_ name: String) -> String? {
        for ext in [".nii.gz", ".nii"] where name.hasSuffix(ext) && name.count > ext.count {
            return String(name.dropLast(ext.count))
        }
        return nil
    }

    /// The patient a volume belongs to: the name before `_frame` (a frame suffix groups volumes).
    static func patient(ofVolume name: String) -> String {
        name.range(of: "_frame").map { String(name[..<$0.lowerBound]) } ?? name
    }

    /// The label file next to `folder/stem...`: `stem` + each NIfTI extension, first that exists.
    static func niftiFile(in folder: URL, stem: String, preferredExtension: String) -> URL {
        let candidates = [preferredExtension, ".nii.gz", ".nii"].map { folder.appendingPathComponent(stem + $0) }
        return candidates.first(where: exists) ?? candidates[0]
    }

    // MARK: ACDC

    static func acdc(_ root: URL, requireLabels: Bool) throws -> [VolumeSource] {
        let patientFolders = try listing(root).filter(isDirectory)
        guard !patientFolders.isEmpty else {
            throw DatasetError(file: root.path, .emptyFolder, "no patient folders (patientNNN/)")
        }
        return try patientFolders.flatMap { try acdcPatient($0, requireLabels: requireLabels) }
    }

    private static func acdcPatient(_ folder: URL, requireLabels: Bool) throws -> [VolumeSource] {
        let patient = folder.lastPathComponent
        var frames: [(stem: String, frame: Int, ext: String, url: URL)] = []
        for url in try listing(folder) {
            guard let stem = niftiStem(url.lastPathComponent), !stem.hasSuffix("_gt"),
                  let range = stem.range(of: "_frame", options: .backwards),
                  let frame = Int(stem[range.upperBound...]) else { continue }
            frames.append((stem, frame, String(url.lastPathComponent.dropFirst(stem.count)), url))
        }
        guard !frames.isEmpty else {
            throw DatasetError(file: folder.path, .emptyFolder, "no \(patient)_frameNN.nii[.gz] "
                                                                + "volumes in this patient folder")
        }
        let phases = try acdcPhases(folder, frames: frames.map(\.frame), patient: patient)
        return try frames.map { f in
            let label = niftiFile(in: folder, stem: f.stem + "_gt", preferredExtension: f.ext)
            let hasLabel = exists(label)
            if requireLabels && !hasLabel {
                throw DatasetError(file: label.path, .missingFile, "label volume for \(f.stem) not found")
            }
            return VolumeSource(patient: patient, name: f.stem, phase: phases[f.frame],
                                storage: .nifti(image: f.url, label: hasLabel ? label : nil))
        }
    }

    /// Frame number -> "ED"/"ES" from `Info.cfg` (`ED: 1`, `ES: 12`); empty without the file.
    /// The frames it names must exist.
    private static func acdcPhases(_ folder: URL, frames: [Int], patient: String) throws -> [Int: String] {
        let info = folder.appendingPathComponent("Info.cfg")
        guard exists(info) else { return [:] }
        guard let text = String(data: try InputFile.contents(info), encoding: .utf8) else {
            throw DatasetError(file: info.path, .corrupt, "not UTF-8 text")
        }
        var phases: [Int: String] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, parts[0] == "ED" || parts[0] == "ES" else { continue }
            guard let frame = Int(parts[1]) else {
                throw DatasetError(file: info.path, .corrupt, "\(parts[0]) is '\(parts[1])', expected a frame number")
            }
            guard frames.contains(frame) else {
                let expected = folder.appendingPathComponent(patient + "_frame" + String(format: "%02d", frame)
                                                             + ".nii.gz")
                throw DatasetError(file: expected.path, .missingFile,
                                   "Info.cfg names \(parts[0]) frame \(frame), but its volume is missing")
            }
            phases[frame] = parts[0]
        }
        return phases
    }

    // MARK: MSD

    static func msd(_ root: URL, requireLabels: Bool) throws -> [VolumeSource] {
        let imagesDir = root.appendingPathComponent("imagesTr"), labelsDir = root.appendingPathComponent("labelsTr")
        let images = try listing(imagesDir).compactMap { url in niftiStem(url.lastPathComponent).map { (url, $0) } }
        guard !images.isEmpty else {
            throw DatasetError(file: imagesDir.path, .emptyFolder, "no .nii or .nii.gz images")
        }
        return try images.map { url, stem in
            let name = stem.hasSuffix("_0000") ? String(stem.dropLast(5)) : stem
            let label = niftiFile(in: labelsDir, stem: name,
                                  preferredExtension: String(url.lastPathComponent.dropFirst(stem.count)))
            let hasLabel = exists(label)
            if requireLabels && !hasLabel {
                throw DatasetError(file: label.path, .missingFile, "label volume for \(name) not found")
            }
            return VolumeSource(patient: patient(ofVolume: name), name: name, phase: nil,
                                storage: .nifti(image: url, label: hasLabel ? label : nil))
        }
    }

    // MARK: PNG

    static func png(_ root: URL, requireLabels: Bool) throws -> [VolumeSource] {
        let imgs = root.appendingPathComponent("imgs"), annotations = root.appendingPathComponent("annotations")
        let folders = try listing(imgs).filter(isDirectory)
        guard !folders.isEmpty else {
            throw DatasetError(file: imgs.path, .emptyFolder, "no volume folders (imgs/<case>_frameMM/)")
        }
        return try folders.map { folder in
            let name = folder.lastPathComponent
            let slices = try listing(folder).filter { $0.pathExtension.lowercased() == "png" }
                .sorted { (sliceNumber($0), $0.lastPathComponent) < (sliceNumber($1), $1.lastPathComponent) }
            guard !slices.isEmpty else {
                throw DatasetError(file: folder.path, .emptyFolder, "no .png slices")
            }
            let labels = slices.map {
                annotations.appendingPathComponent(name).appendingPathComponent($0.lastPathComponent)
            }
            let missing = labels.first { !exists($0) }
            if requireLabels, let missing {
                throw DatasetError(file: missing.path, .missingFile, "label slice for \(name) not found")
            }
            return VolumeSource(patient: patient(ofVolume: name), name: name, phase: nil,
                                storage: .pngSlices(images: slices, labels: missing == nil ? labels : nil))
        }
    }

    /// The trailing number of `<...>_NNN.png` (slice index), or Int.max.
    private static func sliceNumber(_ url: URL) -> Int {
        let stem = url.deletingPathExtension().lastPathComponent
        return stem.split(separator: "_").last.flatMap { Int($0) } ?? Int.max
    }
}
