/// Concatenation of two NCHW tensors along the channel axis, PyTorch `torch.cat([a, b], dim=1)`:
/// `y[n] = [a[n]; b[n]]` per image. Its backward splits the gradient back into the two parts.
///
/// Shapes: B batch, Ca and Cb channels, P = H * W pixels. a (B, Ca, P), b (B, Cb, P),
/// y (B, Ca + Cb, P).
public enum ChannelConcat {
    /// y (B, Ca + Cb, P) <- a (B, Ca, P), b (B, Cb, P).
    public static func forward(
        y: UnsafeMutablePointer<Float>, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
        batch n: Int, channelsA ca: Int, channelsB cb: Int, pixels p: Int
    ) {
        let sizeA = ca &* p, sizeB = cb &* p
        for i in 0..<n {
            let yi = y + i &* (sizeA &+ sizeB)
            yi.update(from: a + i &* sizeA, count: sizeA)
            (yi + sizeA).update(from: b + i &* sizeB, count: sizeB)
        }
    }

    /// Accumulates `da += dy[:, :Ca]` and `db += dy[:, Ca:]` (each skipped when nil).
    /// dy (B, Ca + Cb, P), da (B, Ca, P), db (B, Cb, P).
    public static func backward(
        da: UnsafeMutablePointer<Float>?, db: UnsafeMutablePointer<Float>?, dy: UnsafePointer<Float>,
        batch n: Int, channelsA ca: Int, channelsB cb: Int, pixels p: Int
    ) {
        let sizeA = ca &* p, sizeB = cb &* p
        for i in 0..<n {
            let dyi = dy + i &* (sizeA &+ sizeB)
            if let da {
                let out = da + i &* sizeA
                for q in 0..<sizeA { out[q] += dyi[q] }
            }
            if let db {
                let out = db + i &* sizeB, src = dyi + sizeA
                for q in 0..<sizeB { out[q] += src[q] }
            }
        }
    }
}
