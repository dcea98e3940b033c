/// SAM's window partition for windowed ViT blocks: tokens on a grid are zero-padded at the
/// bottom/right to a multiple of the window size S and cut into S x S windows, row-major over
/// windows; `unpartition` merges the windows back and crops the padding.
///
/// ref: segment_anything/modeling/image_encoder.py @ dca509f, `window_partition` (lines 242-263)
/// and `window_unpartition` (lines 266-288).
///
/// Shapes: B images, H x W token grid, C channels, S window size,
/// Hp = ceil(H / S) * S, Wp = ceil(W / S) * S, nWh = Hp / S, nWw = Wp / S.
/// tokens (B, H, W, C) NHWC; windows (B * nWh * nWw, S, S, C), window index (b * nWh + wh) * nWw + ww.
public enum WindowPartition {
    /// Number of windows per image: nWh * nWw.
    public static func windowsPerImage(height h: Int, width w: Int, window s: Int) -> Int {
        paddedLength(h, window: s) / s * (paddedLength(w, window: s) / s)
    }

    /// Padded grid side: `n` rounded up to a multiple of `window`.
    public static func paddedLength(_ n: Int, window s: Int) -> Int {
        precondition(s > 0, "window size must be positive, got \(s)")
        return (n + s - 1) / s * s
    }

    /// windows (B * nWh * nWw, S, S, C) <- tokens (B, H, W, C); padded positions are set to zero, or
    /// to `padding` (C) when given (what a layer applied after the partition gives a zero token).
    public static func partition(
        windows: UnsafeMutablePointer<Float>, tokens: UnsafePointer<Float>,
        batch b: Int, height h: Int, width w: Int, channels c: Int, window s: Int, padding: UnsafePointer<Float>? = nil
    ) {
        forEachWindowRow(batch: b, height: h, width: w, channels: c, window: s) { windowOffset, tokenOffset in
            if let tokenOffset {
                (windows + windowOffset).update(from: tokens + tokenOffset, count: c)
            } else if let padding {
                (windows + windowOffset).update(from: padding, count: c)
            } else {
                (windows + windowOffset).update(repeating: 0, count: c)
            }
        }
    }

    /// tokens (B, H, W, C) <- windows (B * nWh * nWw, S, S, C); padded positions are dropped.
    public static func unpartition(
        tokens: UnsafeMutablePointer<Float>, windows: UnsafePointer<Float>,
        batch b: Int, height h: Int, width w: Int, channels c: Int, window s: Int
    ) {
        forEachWindowRow(batch: b, height: h, width: w, channels: c, window: s) { windowOffset, tokenOffset in
            if let tokenOffset { (tokens + tokenOffset).update(from: windows + windowOffset, count: c) }
        }
    }

    /// Backward of `partition` (its adjoint): dTokens (B, H, W, C) += unpartition(dWindows);
    /// the gradient at padded window positions has no source and is dropped.
    public static func partitionBackward(
        dTokens: UnsafeMutablePointer<Float>, dWindows: UnsafePointer<Float>,
        batch b: Int, height h: Int, width w: Int, channels c: Int, window s: Int
    ) {
        forEachWindowRow(batch: b, height: h, width: w, channels: c, window: s) { windowOffset, tokenOffset in
            if let tokenOffset { accumulate(dTokens + tokenOffset, dWindows + windowOffset, count: c) }
        }
    }

    /// Backward of `unpartition` (its adjoint): dWindows (B * nWh * nWw, S, S, C) += partition(dTokens);
    /// padded window positions receive zero, so they are left untouched.
    public static func unpartitionBackward(
        dWindows: UnsafeMutablePointer<Float>, dTokens: UnsafePointer<Float>,
        batch b: Int, height h: Int, width w: Int, channels c: Int, window s: Int
    ) {
        forEachWindowRow(batch: b, height: h, width: w, channels: c, window: s) { windowOffset, tokenOffset in
            if let tokenOffset { accumulate(dWindows + windowOffset, dTokens + tokenOffset, count: c) }
        }
    }

    /// Visits every window position once, in window storage order, with the element offset of its
    /// C-vector in the windows buffer and in the token buffer (nil for a padded position).
    @inline(__always)
    private static func forEachWindowRow(
        batch b: Int, height h: Int, width w: Int, channels c: Int, window s: Int,
        _ body: (_ windowOffset: Int, _ tokenOffset: Int?) -> Void
    ) {
        let nWh = paddedLength(h, window: s) / s, nWw = paddedLength(w, window: s) / s
        var windowOffset = 0
        for image in 0..<b {
            for wh in 0..<nWh {
                for ww in 0..<nWw {
                    for i in 0..<s {
                        let y = wh &* s &+ i
                        for j in 0..<s {
                            let x = ww &* s &+ j
                            let inside = y < h && x < w
                            body(windowOffset, inside ? ((image &* h &+ y) &* w &+ x) &* c : nil)
                            windowOffset &+= c
                        }
                    }
                }
            }
        }
    }

    @inline(__always)
    private static func accumulate(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, count: Int) {
        for k in 0..<count { dst[k] += src[k] }
    }
}
