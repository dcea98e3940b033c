/// PyTorch `ReduceLROnPlateau` in mode `min` with a relative threshold, cooldown 0:
/// a metric counts as better when `metric < best * (1 - threshold)`; after more than `patience`
/// epochs without improvement the learning rate is multiplied by `factor` (floored at `minLR`,
/// changes smaller than 1e-8 ignored) and the bad-epoch count restarts.
public struct ReduceLROnPlateau: Codable, Equatable, Sendable {
    public var factor: Float = 0.1
    public var patience = 10
    public var threshold: Float = 1e-4
    public var minLR: Float = 0
    public private(set) var best: Float = .infinity
    public private(set) var badEpochs = 0
    public private(set) var reductions = 0

    public init(factor: Float = 0.1, patience: Int = 10, threshold: Float = 1e-4, minLR: Float = 0) {
        precondition(factor < 1, "factor must be < 1")
        self.factor = factor
        self.patience = patience
        self.threshold = threshold
        self.minLR = minLR
    }

    /// Feeds one epoch's metric and returns the (possibly reduced) learning rate.
    public mutating func step(metric: Float, lr: Float) -> Float {
        if metric < best * (1 - threshold) {
            best = metric
            badEpochs = 0
        } else {
            badEpochs += 1
        }
        guard badEpochs > patience else { return lr }
        badEpochs = 0
        let reduced = max(lr * factor, minLR)
        guard lr - reduced > 1e-8 else { return lr }
        reductions += 1
        return reduced
    }
}
