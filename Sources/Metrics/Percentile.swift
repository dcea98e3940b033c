/// `numpy.percentile(values, q)` with the default `method="linear"` (numpy 2.x `_quantile`):
/// virtual index `v = (n - 1) * (q / 100)`, `i = floor(v)`, `t = v - i`, and numpy's `_lerp` of the
/// order statistics `a = x[i]`, `b = x[min(i + 1, n - 1)]`:
/// `a + (b - a) * t` when `t < 0.5`, else `b - (b - a) * (1 - t)`.
public enum Percentile {
    /// `sorted` ascending and non-empty; `q` in [0, 100].
    public static func linear(_ sorted: [Double], _ q: Double) -> Double {
        precondition(!sorted.isEmpty, "percentile of an empty list")
        precondition(q >= 0 && q <= 100, "percentile \(q) outside [0, 100]")
        let n = sorted.count
        let virtual = Double(n - 1) * (q / 100)
        if virtual >= Double(n - 1) { return sorted[n - 1] }
        let i = Int(virtual.rounded(.down))
        let t = virtual - Double(i)
        let a = sorted[i]
        let b = sorted[i + 1]
        let diff = b - a
        return t >= 0.5 ? b - diff * (1 - t) : a + diff * t
    }
}
