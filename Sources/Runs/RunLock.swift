import Config
import Foundation
import Glibc
#if canImport(Glibc)
#endif

/// One run at a time per output folder: an advisory lock on `<output.dir>/.autosam.lock` held by
/// the coordinator for the whole run (DESIGN §4). The kernel releases an `flock` when its holder
/// dies, so a lock left by a killed run is simply taken over; a live holder makes a second run on
/// the same folder fail at once, naming the holder's host and PID from the lock file.
public final class RunLock {
    public static let fileName = ".autosam.lock"
    public let url: URL
    private var descriptor: Int32

    /// Takes the lock of `folder` (created if needed) or throws `RunFileError` naming the holder.
    public init(folder: URL) throws {
        url = folder.appendingPathComponent(Self.fileName)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        descriptor = open(url.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw RunFileError(path: url.path, message: "cannot open the run lock: \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let reason = errno
            let holder = (try? String(contentsOf: url, encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            close(descriptor)
            if reason == EWOULDBLOCK {
                throw RunFileError(path: folder.path, message: "the run folder is in use by another run "
                                   + "(\(holder.isEmpty ? "holder unknown" : holder)); "
                                   + "wait for it to finish or choose another output.dir")
            }
            throw RunFileError(path: url.path,
                               message: "cannot lock the run folder: \(String(cString: strerror(reason)))")
        }
        let me = "host \(ProcessInfo.processInfo.hostName) pid \(getpid()) "
            + "since \(ISO8601DateFormatter().string(from: Date()))\n"
        _ = ftruncate(descriptor, 0)
        _ = me.withCString { pwrite(descriptor, $0, strlen($0), 0) }
    }

    deinit { release() }

    /// Releases the lock (also on deinit); the file stays, unlocked.
    public func release() {
        guard descriptor >= 0 else { return }
        flock(descriptor, LOCK_UN)
        close(descriptor)
        descriptor = -1
    }
}
