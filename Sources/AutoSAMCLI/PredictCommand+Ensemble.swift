import ArgumentParser
import Collectives
import Config
import Datasets
import Embeddings
import Evaluation
import Foundation

extension EnsembleUncertainty: ExpressibleByArgument {}

extension PredictCommand {
    /// `predict --ensemble` on every rank of this process's job (one process, or mpirun).
    func runEnsemble() -> Never {
        RankedJob.run { world in
            let ensemble = try EnsemblePrediction(run: URL(fileURLWithPath: runFolder))
            configureThreads(ensemble.config)
            func say(_ line: String) { if world.isCoordinator { print(line) } }
            say("seed ensemble of \(ensemble.members.count) \(ensemble.config.head.kind) heads:")
            for member in ensemble.members {
                for damaged in member.skipped { say("  seed \(member.seed): skipped damaged checkpoint: \(damaged)") }
                say("  seed \(member.seed): epoch \(member.checkpoint.state.epoch) (\(member.checkpointFolder.path))")
            }
            let encoderFactory = { (config: ExperimentConfig) throws -> SliceEncoder in
                let encoder = try SliceEncoders.make(config)
                say("encoder: \(SliceEncoders.describe(encoder))")
                return encoder
            }
            let started = Date()
            let progress = { (v: Int, volume: Volume) in
                let rank = world.size > 1 ? "rank \(world.rank): " : ""
                print(String(format: "%@volume %d %@: %d slices of %dx%d, %.1f s so far", rank, v + 1, volume.name,
                             volume.depth, volume.height, volume.width, Date().timeIntervalSince(started)))
            }
            if let input, let out {
                let inputs = try RunPrediction.inputs(URL(fileURLWithPath: input))
                let written = try ensemble.predictFiles(inputs, to: URL(fileURLWithPath: out), comm: world,
                                                        uncertainty: uncertainty, encoderFactory: encoderFactory,
                                                        progress: progress)
                say("wrote \(written.count) file(s) to \(out)")
                return
            }
            guard let summary = try ensemble.evaluateTestSplit(comm: world, uncertainty: uncertainty,
                                                               encoderFactory: encoderFactory,
                                                               progress: progress) else { return }
            let folder = ensemble.run.appendingPathComponent(EnsembleSummary.folderName)
            print("wrote \(folder.path)/predictions/, \(folder.path)/test_volumes.csv and "
                  + ensemble.run.appendingPathComponent(EnsembleSummary.fileName).path)
            print(summary.table().render())
            print(summary.comparison)
        }
    }
}
