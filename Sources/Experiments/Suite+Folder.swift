import Config
import Foundation

/// A suite's `folder`: one place holding all of its runs, so that `autosam report FOLDER` compares
/// exactly the suite (the paper's Figure 5, Tables 2 and 3). A run whose `output.dir` is directly
/// inside the folder is there already; any other gets a relative symbolic link
/// `FOLDER/<last component of output.dir>` to its output folder, so a run shared by several
/// suites (Table 1's ViT-B runs are also points of Figure 5 and rows of Table 3) is trained once.
extension Suite {
    /// With a `folder`: the output folders' last components must differ (they name the runs in the
    /// folder and in the report) and no run may write to the folder itself.
    func checkFolder(_ configs: [ExperimentConfig]) throws {
        guard let folder else { return }
        let base = URL(fileURLWithPath: folder).standardizedFileURL
        var names: [String: String] = [:]
        for (path, config) in zip(runs, configs) {
            let dir = URL(fileURLWithPath: config.output.dir).standardizedFileURL
            guard dir.path != base.path else {
                throw ConfigError(source: file.path, message: "\(path) writes to the suite's folder \(folder) "
                                  + "itself; a run needs its own folder (e.g. \(folder)/\(config.name))")
            }
            if let other = names[dir.lastPathComponent] {
                throw ConfigError(source: file.path, message: "\(other) and \(path) both have an output.dir named "
                                  + "'\(dir.lastPathComponent)'; the runs of a suite with a folder need distinct names")
            }
            names[dir.lastPathComponent] = path
        }
    }

    /// Creates `folder` and links into it every run whose output folder lies elsewhere (links
    /// already right are kept; anything else in the way is an error naming it, nothing is
    /// replaced). Returns the links made. A link may point to a run that has not run yet:
    /// `autosam report` takes the folder's finished runs only.
    @discardableResult
    public func linkRuns(_ configs: [ExperimentConfig]) throws -> [URL] {
        guard let folder else { return [] }
        let fm = FileManager.default
        let base = URL(fileURLWithPath: folder).standardizedFileURL
        do { try fm.createDirectory(at: base, withIntermediateDirectories: true) } catch {
            throw ConfigError(source: file.path, message: "cannot create the suite's folder \(base.path) "
                              + "(\(error.localizedDescription))")
        }
        var made: [URL] = []
        for (path, config) in zip(runs, configs) {
            let target = URL(fileURLWithPath: config.output.dir).standardizedFileURL
            guard target.deletingLastPathComponent().path != base.path else { continue }
            let link = base.appendingPathComponent(target.lastPathComponent)
            let destination = Self.relativePath(from: base, to: target)
            if let existing = try? fm.destinationOfSymbolicLink(atPath: link.path) {
                let resolved = URL(fileURLWithPath: existing, relativeTo: base).standardizedFileURL.path
                guard resolved == target.path else {
                    throw ConfigError(source: file.path, message: "\(link.path) links to \(existing), not to the "
                                      + "output.dir of \(path) (\(config.output.dir)); remove the link")
                }
                continue
            }
            guard !fm.fileExists(atPath: link.path) else {
                throw ConfigError(source: file.path, message: "\(link.path) exists and is not a link to the "
                                  + "output.dir of \(path) (\(config.output.dir)); move it away")
            }
            do { try fm.createSymbolicLink(atPath: link.path, withDestinationPath: destination) } catch {
                throw ConfigError(source: file.path, message: "cannot link \(link.path) -> \(destination) "
                                  + "(\(error.localizedDescription))")
            }
            made.append(link)
        }
        return made
    }

    /// The path of `target` as seen from the folder `base` ("../cnn_vit_b_train1"), both absolute.
    static func relativePath(from base: URL, to target: URL) -> String {
        let from = base.pathComponents, to = target.pathComponents
        let common = zip(from, to).prefix { $0 == $1 }.count
        return (Array(repeating: "..", count: from.count - common) + to[common...]).joined(separator: "/")
    }
}
