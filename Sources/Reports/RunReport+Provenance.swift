import Config
import Experiments
import Foundation

extension RunReport {
    /// Where the results came from: `provenance.json` (software, machine, encoder weights, wall
    /// time per phase), the resolved config and the split. Runs made before `train` recorded
    /// provenance say so field by field.
    static func provenance(_ run: ReportRun, _ s: inout ReportSection) {
        s.html.append("<h3>Provenance</h3>")
        let p = run.provenance
        let missing = "not recorded (no provenance.json: the run predates it)"
        func field(_ value: String?) -> String { value ?? missing }
        let checkpoint = run.config.encoder.checkpoint
        let weights: String
        if run.config.head.kind == .unet {
            weights = "none (the UNet learns from pixels)"
        } else if checkpoint.isEmpty {
            let e = run.config.encoder
            weights = "random weights (encoder.preset \(e.preset), seed \(e.random_seed))"
        } else {
            weights = checkpoint + ", sha256 " + (p?.encoderSHA256 ?? "not recorded")
        }
        s.html.append(HTML.definitions([
            ("software (git commit)", field(p?.software)),
            ("started / finished", field(p.map { "\($0.started) / \($0.finished)" })),
            ("ranks", field(p.map { "\($0.ranks)" })),
            ("host", field(p?.host)),
            ("CPU", field(p?.cpuModel)),
            ("OpenBLAS kernels", field(p.map { "\($0.blasKernel), \($0.blasThreads) thread(s) per rank" })),
            ("encoder", field(p?.encoder)),
            ("encoder weights", weights),
        ]))
        if let p, !p.phases.isEmpty {
            let total = p.phases.map(\.seconds).reduce(0, +)
            s.html.append(HTML.table(header: [["phase", "wall time (s)"]],
                                     rows: p.phases.map { [$0.name, String(format: "%.1f", $0.seconds)] }
                                        + [["total", String(format: "%.1f", total)]],
                                     caption: "Wall time per phase (coordinator's clock)"))
        } else {
            s.html.append(HTML.gap("Wall time per phase: \(missing)."))
        }
        s.html.append("<h4>Resolved config (config.json)</h4>")
        s.html.append(HTML.pre(ConfigLoader.render(run.config)))
        s.html.append("<h4>Split (split.json, fold \(run.config.data.fold))</h4>")
        if let split = run.split {
            let size = run.config.data.train_size
            let used = (try? split.trainPatients(trainSize: size == 0 ? nil : size))?.joined(separator: " ")
            s.html.append(HTML.definitions([
                ("train (used)", used ?? "train_size \(size) does not fit this fold"),
                ("train (fold)", split.train.joined(separator: " ")),
                ("validation", split.val.joined(separator: " ")),
                ("test", split.test.joined(separator: " ")),
            ]))
        } else {
            s.html.append(HTML.gap("No split.json in the run folder."))
        }
    }
}
