/// AutoSAM's soft Dice loss, `SoftDiceLoss(batch_dice=True, do_bg=False)` on probabilities
/// (the loss applies no softmax itself), with the reference's exact semantics (FIXTURES.md quirk 7):
/// for each foreground class c in 1..<K, over the whole batch and all pixels, with y = onehot(labels),
///
///     I_c = sum p y,  P_c = sum p^2,  G_c = sum y^2,  d_c = 1 - (2 I_c + 1) / (P_c + G_c + 1),
///
/// only classes with d_c > 0 are kept (`result[result > 0]`: drops perfectly predicted classes,
/// not absent ones) and the loss is the mean of the kept d_c; NaN when none is kept (the mean of
/// an empty tensor), and then no gradient flows.
///
/// The sums are not per-sample, so the API is split for distributed training: each rank computes
/// `statistics` of its shard, the ranks sum them (one all-reduce of `Statistics.values`), then
/// every rank evaluates `loss` and `backward` with the global statistics.
///
/// Shapes: B batch, K classes (class 0 = background), F = K - 1, P = H * W pixels;
/// probabilities (B, K, P), labels (B, P) in 0..<K.
public enum SoftDiceLoss {
    /// The per-class sums, flat so they can be all-reduced (double sum) as one buffer:
    /// `values` (3, F) = [I_1 ... I_{K-1}, P_1 ... P_{K-1}, G_1 ... G_{K-1}].
    public struct Statistics: Equatable, Sendable {
        public let classes: Int
        public var values: [Double]

        public init(classes: Int) {
            precondition(classes >= 2, "the Dice loss needs a background and at least one foreground class")
            self.classes = classes
            self.values = [Double](repeating: 0, count: 3 * (classes - 1))
        }

        public var foreground: Int { classes - 1 }
        /// I_c, P_c, G_c for a foreground class c in 1..<K.
        public func intersection(_ c: Int) -> Double { values[c - 1] }
        public func predictedSquares(_ c: Int) -> Double { values[foreground + c - 1] }
        public func labelSquares(_ c: Int) -> Double { values[2 * foreground + c - 1] }

        /// Adds another shard's sums (what the all-reduce does across ranks).
        public mutating func add(_ other: Statistics) {
            precondition(other.classes == classes, "statistics of \(other.classes) vs \(classes) classes")
            for i in values.indices { values[i] += other.values[i] }
        }
    }

    public struct Result: Sendable {
        /// Mean of the kept d_c; NaN when no class is kept.
        public let loss: Double
        /// d_c for c = 1..<K (F values), before the filter.
        public let perClass: [Double]
        /// d_c > 0, per foreground class.
        public let kept: [Bool]
    }

    /// Sums I, P, G of this shard. probabilities (B, K, P), labels (B, P).
    public static func statistics(
        probabilities: UnsafePointer<Float>, labels: UnsafePointer<Int32>, batch b: Int, classes k: Int, pixels p: Int
    ) -> Statistics {
        var s = Statistics(classes: k)
        let f = k - 1
        for i in 0..<b {
            let li = labels + i &* p
            for c in 1..<k {
                let pc = probabilities + (i &* k &+ c) &* p
                var intersection = 0.0, squares = 0.0, count = 0.0
                for q in 0..<p {
                    let v = Double(pc[q])
                    squares += v * v
                    if Int(li[q]) == c {
                        intersection += v
                        count += 1
                    }
                }
                s.values[c - 1] += intersection
                s.values[f + c - 1] += squares
                s.values[2 * f + c - 1] += count
            }
        }
        return s
    }

    /// The loss from (global) statistics.
    public static func loss(_ s: Statistics) -> Result {
        let perClass = (1..<s.classes).map { c in
            1 - (2 * s.intersection(c) + 1) / (s.predictedSquares(c) + s.labelSquares(c) + 1)
        }
        let kept = perClass.map { $0 > 0 }
        let survivors = zip(perClass, kept).filter { $0.1 }.map { $0.0 }
        let loss = survivors.isEmpty ? .nan : survivors.reduce(0, +) / Double(survivors.count)
        return Result(loss: loss, perClass: perClass, kept: kept)
    }

    /// Accumulates `dProbabilities += upstream * dloss/dp`, with the global `statistics`:
    /// for a kept class c, `dloss/dp = (2 p N_c - 2 y D_c) / (n D_c^2)` where N_c = 2 I_c + 1,
    /// D_c = P_c + G_c + 1 and n the number of kept classes; 0 for background, dropped classes,
    /// and everywhere when nothing is kept. dProbabilities, probabilities (B, K, P), labels (B, P).
    public static func backward(
        dProbabilities: UnsafeMutablePointer<Float>, upstream: Float, probabilities: UnsafePointer<Float>,
        labels: UnsafePointer<Int32>, statistics s: Statistics, batch b: Int, classes k: Int, pixels p: Int
    ) {
        precondition(s.classes == k, "statistics of \(s.classes) classes for \(k)-class probabilities")
        let result = loss(s)
        let keptCount = result.kept.filter { $0 }.count
        guard keptCount > 0 else { return }
        for c in 1..<k where result.kept[c - 1] {
            let numerator = 2 * s.intersection(c) + 1
            let denominator = s.predictedSquares(c) + s.labelSquares(c) + 1
            let scale = Double(upstream) / (Double(keptCount) * denominator * denominator)
            let slopeP = Float(2 * numerator * scale), slopeY = Float(2 * denominator * scale)
            for i in 0..<b {
                let o = (i &* k &+ c) &* p
                let pc = probabilities + o, dc = dProbabilities + o, li = labels + i &* p
                for q in 0..<p { dc[q] += slopeP * pc[q] - (Int(li[q]) == c ? slopeY : 0) }
            }
        }
    }
}
