import Config
import Foundation

/// One line of the per-epoch metrics log (JSON lines, `metrics.jsonl`).
public struct EpochRecord: Codable, Equatable {
    public let seed: Int
    public let epoch: Int
    public let step: Int
    public let trainLoss: Double
    public let trainCE: Double
    public let trainDice: Double
    /// nil for epochs that were not validated (`optim.validate_every`).
    public let validationDice: Double?
    public let lr: Float
    public let seconds: Double

    public init(seed: Int, epoch: Int, step: Int, trainLoss: Double, trainCE: Double, trainDice: Double,
                validationDice: Double?, lr: Float, seconds: Double) {
        (self.seed, self.epoch, self.step) = (seed, epoch, step)
        (self.trainLoss, self.trainCE, self.trainDice) = (trainLoss, trainCE, trainDice)
        self.validationDice = validationDice
        (self.lr, self.seconds) = (lr, seconds)
    }
}

/// One line of the pretraining log (`seed_<s>/pretrain/metrics.jsonl`).
public struct PretrainEpochRecord: Codable, Equatable {
    public let seed: Int
    public let epoch: Int
    public let step: Int
    /// Mean NT-Xent loss of the epoch's steps.
    public let loss: Double
    public let seconds: Double

    public init(seed: Int, epoch: Int, step: Int, loss: Double, seconds: Double) {
        (self.seed, self.epoch, self.step, self.loss, self.seconds) = (seed, epoch, step, loss, seconds)
    }
}
