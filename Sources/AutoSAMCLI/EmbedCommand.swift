import ArgumentParser
import Baselines
import Collectives
import Config
import Embeddings
import Evaluation
import Experiments
import Foundation
import Runs
import Tensors
import Training

/// `autosam embed`: build the embedding cache of a config ahead of training.
struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Build the embedding cache of a config: encode every slice the training run will need once.",
        discussion: """
        Prepares the data as `train` does (phantom synthesis when configured, split file), then runs the frozen \
        encoder on every val and test slice (and every training slice when data.augmentation is none, or every bank \
        view when it is bank) whose embedding is not cached yet, and stores it under cache.dir (default \
        <output.dir>/cache) keyed by encoder weights, preprocessing and slice content. Entries already cached are \
        checked and reused; damaged ones are recomputed. Under mpirun the slices are sharded over the ranks \
        (`mpirun -np 2 autosam embed -c CONFIG`). Prints the counts and the encoder seconds per slice. A later `train` \
        with the same config reads these entries instead of encoding.
        """
    )

    @OptionGroup var options: ConfigOptions

    func run() throws {
        let config = try options.load()
        RankedJob.run { world in
            configureThreads(config)
            let experiment = Experiment(config: config, world: world) { config in
                let encoder = try SliceEncoders.make(config)
                if world.isCoordinator { print("encoder: \(SliceEncoders.describe(encoder))") }
                return encoder
            }
            if world.isCoordinator {
                experiment.log.info("\(world.size) rank(s), \(BLASRuntime.threads) BLAS thread(s) each")
            }
            let started = Date()
            let report = try experiment.buildCache { done, total in
                if world.isCoordinator && (done % 20 == 0 || done == total) {
                    let seconds = String(format: "%.1f", Date().timeIntervalSince(started))
                    experiment.log.info("embedding cache: \(done)/\(total) slices on this rank, \(seconds)s")
                }
            }
            if world.isCoordinator { print(report.render(), terminator: "") }
        }
    }
}
