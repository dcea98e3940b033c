import ArgumentParser
import Datasets
import Foundation

/// `autosam synth`: the synthetic cardiac phantom dataset in the ACDC raw layout.
struct Synth: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a synthetic cardiac MRI dataset "
            + "(ACDC raw layout: patientNNN/ with ED/ES frames, labels, Info.cfg)."
    )

    @Option(help: "Output folder (created if missing).")
    var out: String

    @Option(help: "Number of patients.")
    var patients: Int = 10

    @Option(help: "Random seed: the same seed gives the same patients.")
    var seed: UInt64 = 0

    @Option(help: "Also write a PNG montage of generated slices with label overlays to this path.")
    var preview: String?

    func validate() throws {
        guard patients >= 1 else { throw ValidationError("--patients must be at least 1") }
    }

    func run() throws {
        let root = URL(fileURLWithPath: out)
        let start = Date()
        let written = try Phantom.writeDataset(to: root, patients: patients, seed: seed)
        let voxels = written.reduce(0) { $0 + 2 * $1.width * $1.height * $1.depth }
        let seconds = String(format: "%.2f", Date().timeIntervalSince(start))
        print("wrote \(written.count) patients (\(2 * written.count) volumes, \(voxels) voxels) "
              + "to \(root.path) in \(seconds) s")
        if let preview {
            try PreviewCommand.writePreview(of: root, to: URL(fileURLWithPath: preview), volumes: 4)
        }
    }
}

/// `autosam preview`: a PNG montage of slices with label overlays from any dataset folder.
struct PreviewCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "preview",
        abstract: "Write a PNG montage (middle slice, then base/middle/apex with label overlays) "
            + "of a dataset's first volumes."
    )

    @Option(help: "Dataset folder (ACDC raw, MSD imagesTr/labelsTr, or reference imgs/annotations).")
    var data: String

    @Option(help: "Output PNG path.")
    var out: String

    @Option(help: "Number of volumes (rows) to show.")
    var volumes: Int = 4

    func validate() throws {
        guard volumes >= 1 else { throw ValidationError("--volumes must be at least 1") }
    }

    func run() throws {
        try Self.writePreview(of: URL(fileURLWithPath: data), to: URL(fileURLWithPath: out), volumes: volumes)
    }

    static func writePreview(of root: URL, to url: URL, volumes count: Int) throws {
        let index = try DatasetIndex.scan(root, requireLabels: false)
        let sources = Array(index.volumes.prefix(count))
        let volumes = try index.load(patients: Array(Set(sources.map(\.patient))).sorted())
            .filter { v in sources.contains { $0.name == v.name } }
        try Montage.preview(volumes, maxVolumes: count).write(to: url)
        print("wrote preview of \(volumes.map(\.name).joined(separator: ", ")) to \(url.path)")
    }
}
