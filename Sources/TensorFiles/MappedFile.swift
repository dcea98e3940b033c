import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A whole file mapped read-only into memory (`mmap`), so multi-gigabyte checkpoints are paged in
/// on demand instead of copied. The mapping lives as long as the object; `bytes` must not be used
/// after the last reference is gone. (As with any mapping, truncating the file while it is mapped
/// makes later reads fault; checkpoints are not modified while being read.)
public final class MappedFile: @unchecked Sendable {
    public let path: String
    /// The file's bytes (empty for an empty file).
    public let bytes: UnsafeRawBufferPointer

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)   // O_NONBLOCK: a FIFO must not hang us
        guard fd >= 0 else { throw CheckpointError(file: path, "cannot open (\(String(cString: strerror(errno))))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw CheckpointError(file: path, "cannot stat (\(String(cString: strerror(errno))))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw CheckpointError(file: path, "not a regular file") }
        let size = Int(info.st_size)
        guard size > 0 else {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw CheckpointError(file: path, "cannot map \(size) bytes (\(String(cString: strerror(errno))))")
        }
        bytes = UnsafeRawBufferPointer(start: base, count: size)
    }

    public convenience init(url: URL) throws { try self.init(path: url.path) }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }

    public var count: Int { bytes.count }

    /// Lets the kernel drop the resident pages of `range` (byte offsets; rounded out to whole
    /// pages): they leave this process's resident set and are read from the file again if used
    /// again. The mapping is read-only and never written, so the contents stay the same. Used
    /// after converting a tensor or hashing a chunk, so a multi-gigabyte checkpoint is never
    /// resident all at once.
    public func releasePages(_ range: Range<Int>) {
        guard let base = bytes.baseAddress, !range.isEmpty else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = max(0, range.lowerBound / page * page)
        let end = min(bytes.count, (range.upperBound + page - 1) / page * page)
        guard end > start else { return }
        _ = madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, MADV_DONTNEED)
    }

    /// `releasePages` for a buffer inside the mapping (ignored when it is not).
    public func releasePages(of buffer: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, let start = buffer.baseAddress, start >= base,
              start + buffer.count <= base + bytes.count else { return }
        releasePages((start - base) ..< (start - base) + buffer.count)
    }

    /// The mapping as `Data` without copying; the `Data` keeps the mapping alive.
    public var data: Data {
        guard let base = bytes.baseAddress else { return Data() }
        return Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: base), count: bytes.count,
                     deallocator: .custom { _, _ in withExtendedLifetime(self) {} })
    }
}
