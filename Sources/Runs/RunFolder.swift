import TensorFiles
import Config
import Foundation

/// A run folder (`output.dir`) that cannot be used, said plainly: a file, not creatable, not
/// writable.
public struct OutputFolderError: Error, CustomStringConvertible, Equatable {
    public let description: String
}

/// Run folders (`output.dir`): creation with plain errors, and the resolved config.
public enum RunFolder {
    /// Saves the resolved config as `<dir>/config.json` atomically (the one writer of it: `train`,
    /// the box baseline and suites; next to a `summary.json` it marks a complete run of that
    /// config); a failure names the file and the reason.
    public static func writeConfig(_ config: ExperimentConfig, to dir: URL) throws {
        let file = dir.appendingPathComponent("config.json")
        do { try AtomicFile.write(Data(ConfigLoader.render(config).utf8), to: file) } catch {
            throw RunFileError(path: file.path, message: "cannot write the resolved config (\(reason(error)))")
        }
    }

    /// Creates `url` (named `key` in errors) with its parents when missing and checks it is a
    /// writable folder: `output.dir <path> is a file, not a folder`, `cannot create output.dir
    /// <path>: <ancestor> is a file`, `cannot create output.dir <path>: permission denied`,
    /// `cannot write output.dir <path>: permission denied`.
    public static func create(_ url: URL, key: String = "output.dir") throws {
        let fm = FileManager.default
        let path = url.path
        var isFolder: ObjCBool = false
        if fm.fileExists(atPath: path, isDirectory: &isFolder) {
            guard isFolder.boolValue else {
                throw OutputFolderError(description: "\(key) \(path) is a file, not a folder")
            }
        } else {
            var ancestor = url.deletingLastPathComponent()
            while !fm.fileExists(atPath: ancestor.path, isDirectory: &isFolder), ancestor.pathComponents.count > 1 {
                ancestor = ancestor.deletingLastPathComponent()
            }
            if fm.fileExists(atPath: ancestor.path, isDirectory: &isFolder), !isFolder.boolValue {
                throw OutputFolderError(description: "cannot create \(key) \(path): "
                                        + "\(ancestor.path) is a file, not a folder")
            }
            do { try fm.createDirectory(at: url, withIntermediateDirectories: true) } catch {
                throw OutputFolderError(description: "cannot create \(key) \(path): \(reason(error))")
            }
        }
        guard access(path, W_OK | X_OK) == 0 else {
            throw OutputFolderError(description: "cannot write \(key) \(path): \(posixReason(errno))")
        }
    }

    /// Why a file operation failed, in a few words ("permission denied").
    static func reason(_ error: Error) -> String {
        let ns = error as NSError
        if ns.domain == NSPOSIXErrorDomain { return posixReason(Int32(ns.code)) }
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return posixReason(Int32(underlying.code))
        }
        switch CocoaError.Code(rawValue: ns.code) {
        case .fileWriteNoPermission: return "permission denied"
        case .fileWriteVolumeReadOnly: return "read-only file system"
        case .fileWriteOutOfSpace: return "no space left on the device"
        default: return ns.localizedDescription
        }
    }

    static func posixReason(_ code: Int32) -> String {
        let text = String(cString: strerror(code))
        return text.prefix(1).lowercased() + text.dropFirst()
    }
}
