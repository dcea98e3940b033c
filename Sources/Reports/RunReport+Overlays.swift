import Config
import Datasets
import Foundation

extension RunReport {
    /// Each seed's best, median and worst test volume (by mean Dice) drawn with the reference
    /// and predicted contours.
    static func overlays(_ run: ReportRun, _ s: inout ReportSection, _ options: ReportOptions) throws {
        s.html.append("<h3>Test volumes drawn</h3>")
        guard options.overlays else {
            s.html.append(HTML.gap("Left out (--no-overlays)."))
            return
        }
        let c = run.config
        let root = try dataRoot(run)
        let layout = c.data.layout == .auto ? nil : DatasetLayout(rawValue: c.data.layout.rawValue)
        let source = Overlay.Source(index: try DatasetIndex.scan(root, layout: layout), classes: c.data.classes)
        let legend = c.classNames.enumerated().map { i, name in
            "<span class=\"swatch\" style=\"background:\(RGB.cycling(RGB.classes, i).hex)\"></span>\(HTML.escape(name))"
        }.joined()
        s.html.append("<p>Left: reference labels; right: prediction. Contours in class colours:\(legend). "
                      + "Images from <code>\(HTML.escape(root.path))</code>, the slice with the most reference "
                      + "foreground, intensities windowed to their 1st-99th percentiles.</p>")
        for seed in run.seeds {
            let ranking = VolumeRanking(seed.volumes)
            let picks = [("best", ranking.best), ("median", ranking.median), ("worst", ranking.worst)]
            s.html.append("<h4>Seed \(seed.seed)</h4><div class=\"figures\">")
            for (rank, entry) in picks {
                guard let entry else { continue }
                let prediction = seed.folder.appendingPathComponent("predictions/\(entry.name).nii.gz")
                let overlay = try source.render(volume: entry.name, prediction: prediction)
                let caption = "\(rank): \(HTML.escape(entry.name)), mean Dice \(dice(entry.meanDice)), "
                    + "slice \(overlay.slice + 1) of \(overlay.depth)"
                s.figure(HTML.image(overlay.png, alt: "\(entry.name) reference and prediction"), png: overlay.png,
                         file: "\(run.label)_seed\(seed.seed)_\(rank).png", caption: caption, options: options)
            }
            s.html.append("</div>")
        }
    }

    /// The run's `data.root`: as written when absolute; when relative, from the folder `train` ran
    /// in (the run folder minus a relative `output.dir`), else from the working directory.
    static func dataRoot(_ run: ReportRun) throws -> URL {
        let c = run.config
        var candidates: [URL] = []
        if !c.data.root.hasPrefix("/") && !c.output.dir.hasPrefix("/") {
            let relative = c.output.dir.split(separator: "/").map(String.init).filter { $0 != "." }
            let runParts = run.folder.standardizedFileURL.pathComponents
            if !relative.isEmpty, !relative.contains(".."), runParts.suffix(relative.count).elementsEqual(relative) {
                let base = NSString.path(withComponents: Array(runParts.dropLast(relative.count)))
                candidates.append(URL(fileURLWithPath: base).appendingPathComponent(c.data.root))
            }
        }
        candidates.append(URL(fileURLWithPath: c.data.root))
        var isFolder: ObjCBool = false
        if let found = candidates.first(where: {
            FileManager.default.fileExists(atPath: $0.path, isDirectory: &isFolder) && isFolder.boolValue
        }) { return found }
        throw ReportError(path: candidates[0].path, message: "the run's images (data.root \(c.data.root)) are not "
                          + "there\(candidates.count > 1 ? " nor at \(candidates[1].path)" : ""); run the report "
                          + "from the folder `train` ran in, or leave the drawings out with --no-overlays")
    }
}
