#if canImport(Glibc)
import Glibc
#endif

/// Unbuffered writes to the standard streams (usable from any rank or thread, even while aborting).
enum FileHandleOutput {
    static func standardError(_ text: String) {
        var bytes = Array(text.utf8)
        _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
    }
}
