import CBLAS

public enum Transpose {
    /// y (columns, rows) <- x (rows, columns)^T, both dense, through OpenBLAS's `somatcopy`
    /// (blocked, vectorised kernels: 0.27 ms for 4096 x 256 floats on one Zen 4 core, against 3.3 ms
    /// for a 32 x 32-tiled scalar loop). Exact: every element is copied (scaled by 1).
    public static func matrix(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, rows: Int, columns: Int) {
        guard rows > 0 && columns > 0 else { return }
        _ = BLASRuntime.selection
        cblas_somatcopy(CblasRowMajor, CblasTrans, blasint(rows), blasint(columns), 1, x, blasint(columns), y,
                        blasint(rows))
    }
}
