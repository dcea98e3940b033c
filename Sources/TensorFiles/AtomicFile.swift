import Foundation
import Tensors

/// Writes a file so that readers see either the old contents or the complete new ones.
public enum AtomicFile {
    public static func write(_ data: Data, to url: URL) throws {
        let dir = url.deletingLastPathComponent()
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        do {
            try data.write(to: tmp)
            let fd = open(tmp.path, O_RDONLY)
            if fd >= 0 { fsync(fd); close(fd) }
            if rename(tmp.path, url.path) != 0 {
                throw CheckpointError(file: url.path, "cannot rename temporary file into place (errno \(errno))")
            }
        } catch let e as CheckpointError {
            try? FileManager.default.removeItem(at: tmp)
            throw e
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            throw CheckpointError(file: url.path, "cannot write (\(error.localizedDescription))")
        }
    }
}
