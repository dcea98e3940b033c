import Foundation

/// Runs built executables (alone or under mpirun) from tests, with a time limit.
public enum ProcessRunner {
    public struct Outcome {
        public let status: Int32
        public let stdout: String
        public let stderr: String
        public let timedOut: Bool
        public var output: String { stdout + stderr }
    }

    /// The folder holding the built products (`autosam`) of this build configuration.
    public static var productsDirectory: URL {
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            return bundle.bundleURL.deletingLastPathComponent()
        }
        return Bundle.main.bundleURL
    }

    public static var autosam: URL { productsDirectory.appendingPathComponent("autosam") }

    /// mpirun arguments for `ranks` local ranks that work as root and with more ranks than cores.
    public static func mpirunArguments(ranks: Int) -> [String] {
        var args = ["-np", "\(ranks)", "--bind-to", "none", "--oversubscribe"]
        if getuid() == 0 { args.append("--allow-run-as-root") }
        return args
    }

    public static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                           timeout: TimeInterval = 120) throws -> Outcome {
        let process = Process()
        process.executableURL = executable.hasPrefix("/") ? URL(fileURLWithPath: executable)
            : URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = executable.hasPrefix("/") ? arguments : [executable] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let collector = PipeCollector(out: out, err: err)
        let deadline = Date().addingTimeInterval(timeout)
        var timedOut = false
        while process.isRunning {
            if Date() > deadline {
                timedOut = true
                process.terminate()
                break
            }
            usleep(20_000)
        }
        process.waitUntilExit()
        let (o, e) = collector.finish()
        return Outcome(status: process.terminationStatus, stdout: o, stderr: e, timedOut: timedOut)
    }
}

/// Drains both pipes concurrently so a chatty child never blocks on a full pipe.
private final class PipeCollector: @unchecked Sendable {
    private var outData = Data(), errData = Data()
    private let group = DispatchGroup()

    init(out: Pipe, err: Pipe) {
        group.enter()
        DispatchQueue.global().async {
            self.outData = out.fileHandleForReading.readDataToEndOfFile()
            self.group.leave()
        }
        group.enter()
        DispatchQueue.global().async {
            self.errData = err.fileHandleForReading.readDataToEndOfFile()
            self.group.leave()
        }
    }

    func finish() -> (String, String) {
        group.wait()
        return (String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }
}
