import ArgumentParser
import Baselines
import Collectives
import Config
import Embeddings
import Evaluation
import Experiments
import Foundation
import Runs
import Training

/// `autosam prepare`: check a config's data and fix its split before training.
struct PrepareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prepare",
        abstract: "Scan a config's dataset, write or reuse its split file, and print the split and slice counts.",
        discussion: """
        Does the data steps of `train` without training: synthesises phantom patients into data.root when \
        data.synthesize_patients > 0 and the folder holds no dataset; scans data.root (layout auto, acdc, msd or png); \
        writes <output.dir>/split.json (patients shuffled with data.split_seed, 70/15/15 % train/val/test per fold) or \
        reuses the one there, checking it matches the dataset; loads and validates every volume of the fold's sets \
        (shapes, spacing, label values); and prints, per set, the patients, volumes and slices, with data.train_size \
        training patients used.
        """
    )

    @OptionGroup var options: ConfigOptions

    func run() throws {
        let config = try options.load()
        let experiment = Experiment(config: config, world: SingleProcessCommunicator()) { try SliceEncoders.make($0) }
        let data = try experiment.prepareData()
        print(DataReport(data).render(), terminator: "")
        print("split file: \(experiment.outputDir.appendingPathComponent("split.json").path)")
    }
}
