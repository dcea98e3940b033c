/// Min-max scaling to [0, 1] over all values: `(x - min) / (max - min)`; a constant input becomes
/// zeros. The reference scales every slice this way before anything else, augmentation included
/// (AutoSAM @ 4f54845 `dataset/ACDC.py`, `__getitem__`; DESIGN §3.6).
public enum UnitRange {
    public static func scaled(_ values: UnsafeBufferPointer<Float>) -> [Float] {
        guard var low = values.first else { return [] }
        var high = low
        for v in values {
            low = min(low, v)
            high = max(high, v)
        }
        guard high > low else { return [Float](repeating: 0, count: values.count) }
        let inverse = 1 / (high - low)
        return [Float](unsafeUninitializedCapacity: values.count) { out, count in
            for i in 0..<values.count { out[i] = (values[i] - low) * inverse }
            count = values.count
        }
    }

    public static func scaled(_ values: ArraySlice<Float>) -> [Float] {
        values.withUnsafeBufferPointer { scaled($0) }
    }

    public static func scaled(_ values: [Float]) -> [Float] {
        values.withUnsafeBufferPointer { scaled($0) }
    }
}
