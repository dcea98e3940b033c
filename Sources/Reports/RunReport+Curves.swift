import Foundation

extension RunReport {
    /// Learning curves of every seed from `metrics.jsonl`: training loss with its parts, the
    /// validation soft-Dice loss, the learning rate (a step plot), and the SimCLR loss when the
    /// seed pretrained. A quantity the log lacks is marked as not recorded.
    static func curves(_ run: ReportRun, _ s: inout ReportSection, _ options: ReportOptions) throws {
        s.html.append("<h3>Learning curves</h3>")
        guard run.trained else {
            s.html.append(HTML.gap("No learning curves: \(run.config.head.kind) trains nothing."))
            return
        }
        for seed in run.seeds {
            let seconds = seed.epochs.compactMap(\.seconds).reduce(0, +)
            s.html.append("<h4>Seed \(seed.seed)</h4><p class=\"note\">\(seed.epochs.count) epoch(s) in "
                          + "seed_\(seed.seed)/metrics.jsonl, \(String(format: "%.1f", seconds)) s of training "
                          + "(sum of the epochs' seconds).</p>")
            s.html.append("<div class=\"figures\">")
            for (plot, file, caption) in plots(seed) {
                guard !plot.isEmpty else {
                    s.html.append(HTML.gap("\(plot.title): not recorded in seed_\(seed.seed)/metrics.jsonl."))
                    continue
                }
                s.figure(plot.svg(), png: try plot.png(), file: "\(run.label)_seed\(seed.seed)_\(file).png",
                         caption: HTML.escape(caption), options: options)
            }
            s.html.append("</div>")
        }
    }

    /// The plots of one seed with their figure file stems and captions.
    static func plots(_ seed: SeedRecords) -> [(LinePlot, String, String)] {
        func series(_ name: String, _ key: String, _ colour: Int, _ points: [EpochPoint],
                    _ value: (EpochPoint) -> Double?, style: LinePlot.Style = .line) -> LinePlot.Series {
            LinePlot.Series(name: name, key: key, colour: RGB.series[colour],
                            points: points.compactMap { p in value(p).map { (Double(p.epoch), $0) } }, style: style)
        }
        let e = seed.epochs
        let loss = LinePlot(title: "Training loss, seed \(seed.seed)", xLabel: "epoch",
                            yLabel: "loss per step (mean over the epoch)",
                            series: [series("CE + Dice", "trainLoss", 0, e) { $0.trainLoss },
                                     series("cross-entropy", "trainCE", 1, e) { $0.trainCE },
                                     series("soft-Dice loss", "trainDice", 2, e) { $0.trainDice }]
                                .filter { !$0.points.isEmpty })
        let validation = LinePlot(title: "Validation soft-Dice loss, seed \(seed.seed)", xLabel: "epoch",
                                  yLabel: "1 - soft Dice (lower is better)",
                                  series: [series("validation", "validationDice", 3, e) { $0.validationDice }],
                                  yRange: 0...1)
        let lr = LinePlot(title: "Learning rate, seed \(seed.seed)", xLabel: "epoch", yLabel: "Adam step size",
                          series: [series("lr", "lr", 4, e, { $0.lr }, style: .step)])
        var out = [(loss, "loss", "Training loss per epoch: cross-entropy (nats) plus the soft-Dice loss "
                    + "(1 - soft Dice, no unit); the total is their sum."),
                   (validation, "validation", "Validation soft-Dice loss (the log's validationDice key) "
                    + "after each validated epoch; the selection metric of test_model = best."),
                   (lr, "lr", "Learning rate in effect at the end of each epoch (step plot).")]
        if !seed.pretraining.isEmpty {
            let pretrain = LinePlot(title: "SimCLR pretraining, seed \(seed.seed)", xLabel: "pretraining epoch",
                                    yLabel: "NT-Xent loss (nats)",
                                    series: [series("NT-Xent", "pretrainLoss", 5, seed.pretraining) { $0.loss }])
            out.append((pretrain, "pretrain",
                        "SimCLR pretraining loss per epoch (seed_\(seed.seed)/pretrain/metrics.jsonl)."))
        }
        return out
    }
}
