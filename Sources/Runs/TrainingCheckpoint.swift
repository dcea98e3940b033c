import TensorFiles
import Collectives
import Config
import Datasets
import Foundation
import Heads
import Optim
import Tensors

/// Everything needed to continue a seed's training exactly (DESIGN §4.7): head parameters and
/// frozen buffers, Adam moments and step, counters, scheduler, best validation loss, and the
/// identity of the run (resolved config, split, seed, world size).
public struct TrainingCheckpoint {
    public struct State: Codable, Equatable {
        public var epoch: Int          // epochs completed
        public var step: Int           // optimiser steps completed
        /// The steps already done of epoch `epoch + 1` when the checkpoint was taken mid-epoch
        /// (preemption, `output.checkpoint_every_steps`/`_minutes`); nil at an epoch boundary.
        public var partialEpoch: PartialEpoch? = nil
        public var lr: Float
        public var scheduler: ReduceLROnPlateau
        public var bestValidationLoss: Double
        public var bestEpoch: Int
        public var lastTrainingLoss: Double
        public var seed: Int
        public var worldSize: Int
        public var config: ExperimentConfig
        public var splitPatients: [String: [String]]
        /// `SliceSets.identity` of the data the run trained on (nil in checkpoints of pretraining).
        public var dataIdentity: String? = nil
        public var adamStep: Int
        public var adam: AdamSettings
        /// SHA-256 of each tensor file of the checkpoint.
        public var checksums: [String: String] = [:]
    }

    /// Progress through an epoch: steps done and the sums its record averages.
    public struct PartialEpoch: Codable, Equatable {
        public var steps = 0
        public var loss = 0.0, crossEntropy = 0.0, dice = 0.0
        /// Wall seconds spent on those steps (so the epoch record's time covers the whole epoch).
        public var seconds = 0.0
        public init() {}
    }

    /// The checkpoint's position: epochs completed and steps of the next one.
    public var name: CheckpointName { CheckpointName(epoch: state.epoch, steps: state.partialEpoch?.steps ?? 0) }

    public struct AdamSettings: Codable, Equatable {
        public var lr: Float, beta1: Float, beta2: Float, eps: Float
    }

    public var state: State
    public var params: [(String, Tensor)]      // trainable, by state-dict name
    public var frozen: [(String, Tensor)]      // frozen parameters and buffers
    public var adamM: [Float]
    public var adamV: [Float]
    /// Where it was read from (named in errors), "checkpoint" when built in memory.
    public var origin = "checkpoint"

    public init(state: State, params: [(String, Tensor)], frozen: [(String, Tensor)], adamM: [Float], adamV: [Float]) {
        self.state = state
        self.params = params
        self.frozen = frozen
        self.adamM = adamM
        self.adamV = adamV
    }

    /// A trainer's checkpoint: its parameters, frozen buffers, Adam moments and settings, and
    /// `state` (whose Adam fields are taken from `trainable`).
    public init(trainable: TrainableState, frozen: FrozenState, epoch: Int, step: Int, scheduler: ReduceLROnPlateau,
         bestValidationLoss: Double, bestEpoch: Int, lastTrainingLoss: Double, seed: Int, worldSize: Int,
         config: ExperimentConfig, split: Split) {
        let a = trainable.adam
        let state = State(epoch: epoch, step: step, lr: a.lr, scheduler: scheduler,
                          bestValidationLoss: bestValidationLoss,
                          bestEpoch: bestEpoch, lastTrainingLoss: lastTrainingLoss, seed: seed, worldSize: worldSize,
                          config: config, splitPatients: ["train": split.train, "val": split.val, "test": split.test],
                          adamStep: a.step, adam: .init(lr: a.lr, beta1: a.beta1, beta2: a.beta2, eps: a.eps))
        self.init(state: state, params: trainable.layout.names.map { ($0, trainable.parameter($0)) },
                  frozen: frozen.layout.names.map { ($0, frozen.tensor($0)) }, adamM: a.m, adamV: a.v)
    }

    /// The trainable state this checkpoint continues: its tensors over `current` (same layout:
    /// every tensor present and of its shape, else a `LoadError` listing all problems) and its
    /// Adam moments, step and settings.
    public func trainableState(continuing current: TrainableState) throws -> TrainableState {
        let s = state
        let adam = Adam(lr: s.lr, beta1: s.adam.beta1, beta2: s.adam.beta2, eps: s.adam.eps, m: adamM, v: adamV,
                        step: s.adamStep)
        let (values, report) = current.layout.filled(current.params, with: params)
        try report.check(source: origin)
        return TrainableState(layout: current.layout, params: values, adam: adam)
    }

    /// The frozen parameters and buffers of this checkpoint over `current` (same layout, complete).
    public func frozenState(continuing current: FrozenState) throws -> FrozenState {
        let (values, report) = current.layout.filled(current.values, with: frozen)
        try report.check(source: origin + " (frozen buffers)")
        return FrozenState(layout: current.layout, values: values)
    }
}
