import Foundation

/// The synthetic cardiac phantom dataset (`autosam synth`): short-axis cine-like stacks with LV
/// blood pool, myocardium ring and RV crescent, written in the ACDC raw layout so the ACDC loader
/// reads it like the real data.
public enum Phantom {
    /// Writes patients 1...`patients` (ACDC names `patientNNN`) under `root`: per patient
    /// `Info.cfg`, the ED and ES frames as int16 `.nii.gz` and their `_gt` labels as uint8.
    /// Patients are rendered in parallel; each is a pure function of (seed, index). gzip level 1 by
    /// default: the noisy int16 images compress hardly better at higher levels but several times slower.
    @discardableResult
    public static func writeDataset(to root: URL, patients: Int, seed: UInt64, inPlaneScale: Double = 1,
                                    compressionLevel: Int32 = 1) throws -> [PhantomPatient] {
        precondition(patients >= 1, "patients \(patients)")
        do { try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true) } catch {
            throw DatasetError(file: root.path, .io, "cannot create folder (\(error.localizedDescription))")
        }
        let all = (0..<patients).map { PhantomPatient(index: $0, seed: seed, inPlaneScale: inPlaneScale) }
        let failures = FailureList()
        DispatchQueue.concurrentPerform(iterations: patients) { i in
            do { try write(all[i], to: root, compressionLevel: compressionLevel) } catch { failures.append(i, error) }
        }
        if let first = failures.first { throw first }
        return all
    }

    /// Writes one patient's folder.
    public static func write(_ p: PhantomPatient, to root: URL, compressionLevel: Int32 = 1) throws {
        let folder = root.appendingPathComponent(p.id)
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try info(p).write(to: folder.appendingPathComponent("Info.cfg"), atomically: true, encoding: .utf8)
        } catch {
            throw DatasetError(file: folder.path, .io, "cannot write patient folder (\(error.localizedDescription))")
        }
        for phase in CardiacPhase.allCases {
            let frame = PhantomFrame(patient: p, phase: phase)
            let frameNumber = phase == .ed ? p.edFrame : p.esFrame
            let stem = folder.appendingPathComponent(p.id + String(format: "_frame%02d", frameNumber)).path
            var header = NIfTIHeader(shape: [p.width, p.height, p.depth],
                                     spacing: [p.pixelSpacing, p.pixelSpacing, p.sliceThickness], datatype: .int16)
            header.descrip = "autosam synthetic cardiac phantom \(p.group) \(phase.rawValue)"
            let stored = frame.image.map { min($0.rounded(), 32767) }
            try NIfTIImage(header: header, data: stored)
                .write(to: URL(fileURLWithPath: stem + ".nii.gz"), compressionLevel: compressionLevel)
            header.datatype = .uint8
            try NIfTIImage(header: header, data: frame.labels.map(Float.init))
                .write(to: URL(fileURLWithPath: stem + "_gt.nii.gz"), compressionLevel: compressionLevel)
        }
    }

    /// ACDC's `Info.cfg` text.
    static func info(_ p: PhantomPatient) -> String {
        "ED: \(p.edFrame)\nES: \(p.esFrame)\nGroup: \(p.group)\n"
        + "Height: \(p.heightCm)\nNbFrame: \(p.frameCount)\nWeight: \(p.weightKg)\n"
    }
}

/// Errors collected from concurrent work, reported in index order.
private final class FailureList: @unchecked Sendable {
    private let lock = NSLock()
    private var errors: [(Int, Error)] = []

    func append(_ index: Int, _ error: Error) {
        lock.lock()
        errors.append((index, error))
        lock.unlock()
    }

    var first: Error? { errors.min { $0.0 < $1.0 }?.1 }
}
