import Baselines
import TensorFiles
import Config
import Embeddings
import Evaluation
import Foundation
import Metrics
import Runs
import Training

/// A suite file (`autosam suite`): experiment configs run in order and compared in one table,
/// e.g. the paper's Table 1 (`configs/paper/table1.json`).
///
///     {"name": "Table 1", "runs": ["configs/paper/autosam_vit_b_train1.json", ...],
///      "metrics": "dice,assd", "output": "runs/table1.md", "folder": "runs/table1"}
///
/// `name` and `runs` are required; `metrics` defaults to `dice,assd`; without `output` the table is
/// only printed; `folder` (optional) gathers the suite's runs for `autosam report FOLDER`
/// (`Suite+Folder.swift`). Paths are relative to the working directory, like every other path.
public struct Suite: Equatable {
    public var name: String
    /// Config files, one table row each, in this order.
    public var runs: [String]
    public var metrics: [Metric]
    /// Where the table is written (a `.md` file gets a heading and a code block, anything else
    /// plain text); nil: printed only.
    public var output: String?
    /// The folder that holds every run of the suite, its own or linked (`linkRuns`); nil: none.
    public var folder: String?
    /// The suite file itself (named in errors).
    public var file: URL

    static let keys = ["name", "runs", "metrics", "output", "folder"]

    public init(name: String, runs: [String], metrics: [Metric] = [.dice, .assd], output: String? = nil,
                folder: String? = nil, file: URL) {
        self.name = name
        self.runs = runs
        self.metrics = metrics
        self.output = output
        self.folder = folder
        self.file = file
    }

    /// Reads and checks a suite file; unknown keys, wrong types and bad metric names are errors
    /// naming the file.
    public static func load(_ file: URL) throws -> Suite {
        func fail(_ message: String) -> ConfigError { ConfigError(source: file.path, message: message) }
        let data = Data(try ConfigLoader.readConfigFile(file))    // a folder, FIFO or missing file named plainly
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw fail("not a JSON object")
        }
        if let unknown = object.keys.sorted().first(where: { !keys.contains($0) }) {
            throw fail("unknown key '\(unknown)' (a suite has \(keys.joined(separator: ", ")))")
        }
        guard let name = object["name"] as? String, !name.isEmpty else {
            throw fail("'name' must be a non-empty string")
        }
        guard let runs = object["runs"] as? [String], !runs.isEmpty else {
            throw fail("'runs' must be a non-empty list of config file paths")
        }
        guard object["metrics"] == nil || object["metrics"] is String else {
            throw fail("'metrics' must be a string like \"dice,assd\"")
        }
        guard object["output"] == nil || object["output"] is String else { throw fail("'output' must be a file path") }
        guard object["folder"] == nil || (object["folder"] as? String).map({ !$0.isEmpty }) == true else {
            throw fail("'folder' must be a non-empty folder path")
        }
        let metrics = try parseMetrics(object["metrics"] as? String ?? "dice,assd", source: file.path)
        return Suite(name: name, runs: runs, metrics: metrics, output: object["output"] as? String,
                     folder: object["folder"] as? String, file: file)
    }

    /// "dice,assd" -> [.dice, .assd]; an unknown name is an error naming it.
    static func parseMetrics(_ text: String, source: String) throws -> [Metric] {
        let metrics = try text.split(separator: ",").map { part in
            let name = part.trimmingCharacters(in: .whitespaces)
            guard let metric = Metric(rawValue: name) else {
                throw ConfigError(source: source, message: "unknown metric '\(name)'; use dice, assd, hd95, hd")
            }
            return metric
        }
        guard !metrics.isEmpty else { throw ConfigError(source: source, message: "'metrics' names no metric") }
        return metrics
    }

    /// Every listed config loaded and validated, in suite order, so that any config error is
    /// reported before anything runs. Two runs sharing an output folder are an error too, and so
    /// are, with a `folder`, two output folders of one name or the suite's folder as a run's.
    public func configs() throws -> [ExperimentConfig] {
        var configs: [ExperimentConfig] = []
        for path in runs {
            guard FileManager.default.fileExists(atPath: path) else {
                throw ConfigError(source: file.path, message: "config file \(path) does not exist "
                                  + "(paths are relative to the working directory, "
                                  + "\(FileManager.default.currentDirectoryPath))")
            }
            configs.append(try ConfigLoader.load(file: URL(fileURLWithPath: path)))
        }
        for (i, config) in configs.enumerated() {
            if let j = configs[..<i].firstIndex(where: { $0.output.dir == config.output.dir }) {
                throw ConfigError(source: file.path,
                                  message: "\(runs[j]) and \(runs[i]) both write to output.dir \(config.output.dir)")
            }
        }
        try checkFolder(configs)
        return configs
    }
}
