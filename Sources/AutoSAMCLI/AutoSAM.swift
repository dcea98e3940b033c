import ArgumentParser

/// The `autosam` command: subcommands only; each lives in its own file.
public struct AutoSAM: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "autosam",
        abstract: "AutoSAM on CPUs: a frozen SAM encoder with small trained segmentation heads.",
        subcommands: [PrepareCommand.self, EmbedCommand.self, TrainCommand.self, EvaluateCommand.self,
                      PredictCommand.self, TableCommand.self, SuiteCommand.self, InspectCommand.self, Bench.self,
                      Info.self, MPICheck.self, Synth.self, PreviewCommand.self, BoxBaselineCommand.self,
                      ReportCommand.self]
    )
    public init() {}
}
