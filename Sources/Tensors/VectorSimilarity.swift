/// Agreement of two vectors of the same length, accumulated in double precision.
public enum VectorSimilarity {
    /// a . b / (|a| |b|); 1 for identical directions, 0 when either vector is zero.
    public static func cosine(_ a: [Float], _ b: [Float]) -> Double {
        precondition(a.count == b.count, "cosine of vectors of lengths \(a.count) and \(b.count)")
        var dot = 0.0, aa = 0.0, bb = 0.0
        for i in a.indices {
            let (x, y) = (Double(a[i]), Double(b[i]))
            dot += x * y
            aa += x * x
            bb += y * y
        }
        return aa > 0 && bb > 0 ? dot / (aa.squareRoot() * bb.squareRoot()) : 0
    }
}
