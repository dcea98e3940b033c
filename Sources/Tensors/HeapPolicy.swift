#if canImport(Glibc)
import CMalloc
import Glibc
#endif

/// How the C heap hands memory back to the kernel.
///
/// glibc serves every allocation above its mmap threshold (at most 32 MB) with a fresh `mmap` and
/// unmaps it on `free`, and trims the heap top above 128 KB. A training step allocates and frees
/// the same large temporaries every time (the AutoSAM head's upscaled maps are 134 MB), so each
/// step faulted in ~160k zero-filled pages again (~0.6 GB, single-threaded kernel work between the
/// GEMMs). Keeping freed memory in the heap makes later steps reuse those pages; peak RSS is
/// unchanged (the same buffers are live at the peak), but the process does not shrink after a
/// phase with a high peak. Memory-mapped checkpoint files are `mmap`ed directly and unaffected.
public enum HeapPolicy {
    /// True once applied (idempotent; `BLASRuntime` applies it before the first GEMM).
    public static let applied: Bool = apply()

    /// Applies the policy unless `AUTOSAM_HEAP=default` asks for glibc's defaults.
    @discardableResult
    public static func keepFreedMemory() -> Bool { applied }

    private static func apply() -> Bool {
        #if canImport(Glibc)
        if let value = getenv("AUTOSAM_HEAP"), String(cString: value) == "default" { return false }
        // Large blocks from the heap, not from mmap, and no trimming of the heap top.
        return mallopt(M_MMAP_MAX, 0) == 1 && mallopt(M_TRIM_THRESHOLD, Int32.max) == 1
        #else
        return false
        #endif
    }
}
