import Baselines
import Collectives
import Config
import Datasets
import Embeddings
import Evaluation
import Foundation
import Runs
import Training

extension SliceSet {
    /// The volumes as one message (`data.distribute = broadcast`): names, shapes, spacing,
    /// intensities and labels. The NIfTI geometry stays with the coordinator, which alone writes
    /// predictions.
    func write(to out: inout MessageWriter) {
        out.put(volumes.count)
        for v in volumes {
            out.put(v.patient)
            out.put(v.name)
            out.put(v.phase)
            for n in [v.depth, v.height, v.width] { out.put(n) }
            for x in [v.spacing.row, v.spacing.column, v.spacing.slice] { out.put(x) }
            out.put(v.image)
            out.put(v.labels == nil ? 0 : 1)
            if let labels = v.labels { out.put(labels) }
            out.put(v.imageFile)
            out.put(v.labelFile)
        }
    }

    /// The inverse of `write(to:)`.
    init(reading input: inout MessageReader) throws {
        let count = try input.int()
        guard (0...1_000_000).contains(count) else {
            throw MessageReader.Malformed(description: "data message: \(count) volumes")
        }
        var volumes: [Volume] = []
        for _ in 0..<count {
            let patient = try input.string(), name = try input.string(), phase = try input.optionalString()
            let (d, h, w) = (try input.int(), try input.int(), try input.int())
            let spacing = Spacing(row: try input.double(), column: try input.double(), slice: try input.double())
            let image = try input.floats()
            let labels = try input.int() == 0 ? nil : Array(try input.raw())
            guard d >= 0, h >= 0, w >= 0, image.count == d * h * w,
                  labels.map({ $0.count == image.count }) ?? true else {
                throw MessageReader.Malformed(description: "data message: volume \(name) of \(d)x\(h)x\(w) "
                                              + "holds \(image.count) voxels")
            }
            volumes.append(Volume(patient: patient, name: name, phase: phase, depth: d, height: h, width: w,
                                  spacing: spacing, image: image, labels: labels, geometry: nil,
                                  imageFile: try input.string(), labelFile: try input.optionalString()))
        }
        self.init(volumes: volumes)
    }
}
