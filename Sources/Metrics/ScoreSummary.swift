/// Mean and standard deviation of the defined values of a list; undefined (nil) values are
/// left out and counted. The standard deviation is the population one (numpy's default `ddof=0`).
/// Both are nil when no value is defined; the deviation of one value is 0.
public struct Statistic: Codable, Sendable, Equatable {
    public var mean: Double?
    public var std: Double?
    /// Number of defined values.
    public var count: Int
    /// Number of undefined values.
    public var undefined: Int

    public init(_ values: [Double?]) {
        let defined = values.compactMap { $0 }
        count = defined.count
        undefined = values.count - defined.count
        guard !defined.isEmpty else { mean = nil; std = nil; return }
        let m = defined.reduce(0, +) / Double(defined.count)
        let variance = defined.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(defined.count)
        mean = m
        std = variance.squareRoot()
    }
}

/// Statistics of every `Metric` for one class, or for the average over classes.
public struct ClassSummary: Codable, Sendable, Equatable {
    public var name: String
    public var dice: Statistic
    public var assd: Statistic
    public var hd95: Statistic
    public var hd: Statistic

    /// `value(metric)` gives the list summarised for `metric`.
    public init(name: String, _ value: (Metric) -> [Double?]) {
        self.name = name
        dice = Statistic(value(.dice))
        assd = Statistic(value(.assd))
        hd95 = Statistic(value(.hd95))
        hd = Statistic(value(.hd))
    }

    public subscript(metric: Metric) -> Statistic {
        switch metric {
        case .dice: return dice
        case .assd: return assd
        case .hd95: return hd95
        case .hd: return hd
        }
    }
}

/// Aggregate scores, per class and for the class average, over the volumes of one run or over
/// the runs of several seeds.
///
/// - Over volumes: class `c`, metric `m` summarises every volume's value; the "Avg" entry
///   summarises the per-volume class averages (`VolumeScores.average`, undefined when any class
///   is), so with no undefined values its mean is the mean of the class means.
/// - Over seeds (the paper's Table 1): each entry summarises the per-seed *means* of the same
///   entry, i.e. mean and std over seeds of the per-seed means; a seed whose mean is undefined is
///   counted as undefined.
public struct ScoreSummary: Codable, Sendable, Equatable {
    public enum Level: String, Codable, Sendable {
        case volumes, seeds
    }

    public var mode: EvaluationMode
    /// Unit of ASSD, HD95 and HD: "mm" or "voxels".
    public var distanceUnit: String
    /// What the statistics run over.
    public var level: Level
    /// Number of volumes or seeds summarised.
    public var samples: Int
    /// One entry per foreground class, in label order (ACDC: RV, Myo, LV).
    public var classes: [ClassSummary]
    /// The average over classes, named "Avg".
    public var average: ClassSummary

    /// Summary of one run over its volumes. `classNames[c - 1]` names label `c`.
    public init(volumes: [VolumeScores], classNames: [String], mode: EvaluationMode) {
        precondition(volumes.allSatisfy { $0.classes.count == classNames.count },
                     "every volume needs \(classNames.count) classes (\(classNames))")
        self.mode = mode
        distanceUnit = mode.distanceUnit
        level = .volumes
        samples = volumes.count
        classes = classNames.indices.map { c in
            ClassSummary(name: classNames[c]) { m in volumes.map { $0.classes[c][m] } }
        }
        average = ClassSummary(name: "Avg") { m in volumes.map { $0.average(m) } }
    }

    /// Mean and std over seeds of the per-seed means. All runs need the same classes and mode.
    public init(seeds runs: [ScoreSummary]) {
        precondition(!runs.isEmpty, "no runs to summarise over seeds")
        let first = runs[0]
        precondition(runs.allSatisfy { $0.mode == first.mode && $0.classes.map(\.name) == first.classes.map(\.name) },
                     "runs differ in evaluation mode or classes")
        mode = first.mode
        distanceUnit = first.distanceUnit
        level = .seeds
        samples = runs.count
        classes = first.classes.indices.map { c in
            ClassSummary(name: first.classes[c].name) { m in runs.map { $0.classes[c][m].mean } }
        }
        average = ClassSummary(name: "Avg") { m in runs.map { $0.average[m].mean } }
    }

    /// The class entries followed by the average, the column order of the paper's Table 1.
    public var columns: [ClassSummary] { classes + [average] }
}

/// Class names of the ACDC labels 1, 2, 3.
public enum ClassNames {
    public static let acdc = ["RV", "Myo", "LV"]
}
