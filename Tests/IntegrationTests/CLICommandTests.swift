import Foundation
import TestSupport
import XCTest

/// The `autosam` subcommands of the data, cache, evaluation and prediction steps, run as the
/// built binary is run by users.
final class CLICommandTests: XCTestCase {
    /// Runs the binary with `folder` as its working directory (the config's relative paths).
    private func autosam(_ arguments: [String], in folder: URL? = nil) throws -> ProcessRunner.Outcome {
        let previous = FileManager.default.currentDirectoryPath
        if let folder { XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(folder.path), folder.path) }
        defer { _ = FileManager.default.changeCurrentDirectoryPath(previous) }
        return try ProcessRunner.run(ProcessRunner.autosam.path, arguments)
    }

    private func temporaryFolder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    func testEveryNewCommandExplainsItselfInHelp() throws {
        for (command, phrase) in [("prepare", "split"), ("embed", "cache"), ("evaluate", "Table 1"),
                                  ("predict", "affine"), ("inspect", "SHA-256")] {
            let run = try autosam([command, "--help"])
            XCTAssertEqual(run.status, 0, run.output)
            XCTAssertTrue(run.stdout.contains("OVERVIEW:"), run.output)
            XCTAssertTrue(run.stdout.contains(phrase), "\(command) --help does not mention \(phrase): \(run.output)")
        }
        let root = try autosam(["--help"])
        for command in ["prepare", "embed", "train", "evaluate", "predict", "inspect", "bench", "synth"] {
            XCTAssertTrue(root.stdout.contains("  \(command) "), "autosam --help lacks \(command): \(root.output)")
        }
    }

    func testInspectDescribesTinySAMAndRejectsADamagedCopy() throws {
        let fixture = Fixtures.url("tiny_sam.pth")
        let ok = try autosam(["inspect", fixture.path])
        XCTAssertEqual(ok.status, 0, ok.output)
        XCTAssertTrue(ok.stdout.contains("custom SAM-shaped"), ok.output)
        XCTAssertTrue(ok.stdout.contains("embed \(Fixtures.config["enc_embed_dim"] as! Int), "
                                         + "depth \(Fixtures.config["enc_depth"] as! Int)"), ok.output)
        for part in ["image_encoder", "prompt_encoder", "mask_decoder"] {
            XCTAssertTrue(ok.stdout.contains(part), ok.output)
        }
        let bytes = try Data(contentsOf: fixture)
        let damaged = try temporaryFolder().appendingPathComponent("damaged.pth")
        try bytes.prefix(bytes.count - 1000).write(to: damaged)
        let bad = try autosam(["inspect", damaged.path])
        XCTAssertNotEqual(bad.status, 0, bad.output)
        XCTAssertTrue(bad.stderr.contains(damaged.path), bad.output)
        let other = try autosam(["inspect", Fixtures.url("metrics.safetensors").path])
        XCTAssertNotEqual(other.status, 0, other.output)
        XCTAssertTrue(other.stderr.contains("not a SAM checkpoint"), other.output)
    }

    /// prepare -> embed -> train -> predict -> evaluate (folder and run) on fresh phantom data,
    /// with the tiny SAM fixture as the encoder checkpoint.
    func testPipelineFromPhantomDataToScoredPredictions() throws {
        let dir = try temporaryFolder()
        let config = """
        {"name": "cli", "data": {"layout": "acdc", "root": "data", "synthesize_patients": 3, "train_size": 1,
                                 "slice_size": 32, "augmentation": "none"},
         "encoder": {"checkpoint": "\(Fixtures.url("tiny_sam.safetensors").path)", "preset": "vit_b"},
         "head": {"kind": "cnn", "depth": 2, "channels": 4}, "optim": {"epochs": 1}, "seeds": [0],
         "output": {"dir": "run"}}
        """
        try config.write(to: dir.appendingPathComponent("cli.json"), atomically: true, encoding: .utf8)
        let prepare = try autosam(["prepare", "-c", "cli.json"], in: dir)
        XCTAssertEqual(prepare.status, 0, prepare.output)
        XCTAssertTrue(prepare.stdout.contains("synthesising 3 phantom patients"), prepare.output)
        XCTAssertTrue(prepare.stdout.contains("train ") && prepare.stdout.contains("test "), prepare.output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("run/split.json").path))
        let presetChecked = try autosam(["embed", "-c", "cli.json"], in: dir)
        XCTAssertNotEqual(presetChecked.status, 0, "a tiny checkpoint is not vit_b: \(presetChecked.output)")
        XCTAssertTrue(presetChecked.stderr.contains("not vit_b"), presetChecked.output)
        let set = ["--set", "encoder.preset=auto"]
        let embed = try autosam(["embed", "-c", "cli.json"] + set, in: dir)
        XCTAssertEqual(embed.status, 0, embed.output)
        XCTAssertTrue(embed.stdout.contains("0 already cached"), embed.output)
        let train = try autosam(["train", "-c", "cli.json"] + set, in: dir)
        XCTAssertEqual(train.status, 0, train.output)

        let input = dir.appendingPathComponent("data/patient002/patient002_frame01.nii.gz")
        let predict = try autosam(["predict", "--run", "run", "--input", input.path, "--out", "masks"], in: dir)
        XCTAssertEqual(predict.status, 0, predict.output)
        let mask = dir.appendingPathComponent("masks/patient002_frame01.nii.gz")
        XCTAssertTrue(FileManager.default.fileExists(atPath: mask.path))

        let evaluate = try autosam(["evaluate", "--predictions", "masks", "--labels", "data", "--out", "scores"],
                                   in: dir)
        XCTAssertEqual(evaluate.status, 0, evaluate.output)
        XCTAssertTrue(evaluate.stdout.contains("RV") && evaluate.stdout.contains("masks"), evaluate.output)
        let csv = try String(contentsOf: dir.appendingPathComponent("scores/volumes.csv"), encoding: .utf8)
        XCTAssertEqual(csv.split(separator: "\n").count, 1 + 3, csv)
        let named = try autosam(["evaluate", "--predictions", "masks", "--labels", "data", "--out", "named",
                                 "--class-names", "right,muscle,left"], in: dir)
        XCTAssertEqual(named.status, 0, named.output)
        let namedCSV = try String(contentsOf: dir.appendingPathComponent("named/volumes.csv"), encoding: .utf8)
        XCTAssertTrue(named.stdout.contains("muscle") && namedCSV.contains(",muscle,") && !namedCSV.contains("Myo"),
                      namedCSV)
        let badNames = try autosam(["evaluate", "--predictions", "masks", "--labels", "data", "--class-names", "a,b"],
                                   in: dir)
        XCTAssertNotEqual(badNames.status, 0)
        XCTAssertTrue(badNames.stderr.contains("--class-names must give 3 distinct, non-empty names"), badNames.output)
        let table = try autosam(["evaluate", "--run", "run"], in: dir)
        XCTAssertEqual(table.status, 0, table.output)
        XCTAssertTrue(table.stdout.contains("cli seed 0") && table.stdout.contains("cli (1 seeds)"), table.output)
        let side = try autosam(["table", "run", "run", "--metrics", "dice,hd95"], in: dir)
        XCTAssertEqual(side.status, 0, side.output)
        XCTAssertEqual(side.stdout.components(separatedBy: "cli (1 seeds)").count, 3, side.output)
        XCTAssertTrue(side.stdout.contains("HD95"), side.output)
        let missing = try autosam(["table", "nowhere"], in: dir)
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("nowhere/summary.json"), missing.output)
    }

    /// A SAM checkpoint with one NaN weight: `train` stops before training with a non-zero exit,
    /// naming the tensor, and writes no results (it used to train to NaN and report Dice 0).
    func testANaNWeightInTheCheckpointStopsTrainNamingTheTensor() throws {
        let dir = try temporaryFolder()
        var bytes = try Data(contentsOf: Fixtures.url("tiny_sam.safetensors"))
        let key = "image_encoder.patch_embed.proj.weight"
        let headerLength = Int(bytes.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self).littleEndian })
        let header = try XCTUnwrap(JSONSerialization.jsonObject(with: bytes.subdata(in: 8 ..< 8 + headerLength))
                                       as? [String: Any])
        let offsets = try XCTUnwrap((header[key] as? [String: Any])?["data_offsets"] as? [Int])
        let nan = Float.nan.bitPattern.littleEndian
        withUnsafeBytes(of: nan) {
            bytes.replaceSubrange(8 + headerLength + offsets[0] ..< 8 + headerLength + offsets[0] + 4, with: $0)
        }
        try bytes.write(to: dir.appendingPathComponent("nan_sam.safetensors"))
        let config = """
        {"name": "nan", "data": {"layout": "acdc", "root": "data", "synthesize_patients": 3, "train_size": 1,
                                 "slice_size": 32, "augmentation": "none"},
         "encoder": {"checkpoint": "nan_sam.safetensors", "preset": "auto"},
         "head": {"kind": "cnn", "depth": 2, "channels": 4}, "optim": {"epochs": 1}, \
        "seeds": [0], "output": {"dir": "run"}}
        """
        try config.write(to: dir.appendingPathComponent("nan.json"), atomically: true, encoding: .utf8)
        let train = try autosam(["train", "-c", "nan.json"], in: dir)
        XCTAssertNotEqual(train.status, 0, train.output)
        XCTAssertTrue(train.stderr.contains(key) && train.stderr.contains("non-finite"), train.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("run/summary.json").path))
    }

    func testBadArgumentsFailWithTheFileNamed() throws {
        let dir = try temporaryFolder()
        let evaluate = try autosam(["evaluate", "--predictions", dir.appendingPathComponent("none").path,
                                    "--labels", dir.path])
        XCTAssertNotEqual(evaluate.status, 0)
        XCTAssertTrue(evaluate.stderr.contains(dir.appendingPathComponent("none").path), evaluate.output)
        let predict = try autosam(["predict", "--run", dir.path, "--input", dir.path,
                                   "--out", dir.appendingPathComponent("o").path])
        XCTAssertNotEqual(predict.status, 0)
        XCTAssertTrue(predict.stderr.contains(dir.appendingPathComponent("config.json").path), predict.output)
        let neither = try autosam(["evaluate"])
        XCTAssertNotEqual(neither.status, 0)
        XCTAssertTrue(neither.stderr.contains("--run"), neither.output)
    }
}

/// Configuration and command-line errors say exactly what is wrong (issue 14): the key and the
/// `--set` item or file that set it, a folder given as the config, an unusable output folder, a
/// `--resume` that is no checkpoint folder; never a trap or raw NSError text.
extension CLICommandTests {
    func testConfigAndArgumentErrorsSayWhatIsWrong() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cli-errors-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let previous = FileManager.default.currentDirectoryPath
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(dir.path))
        defer { _ = FileManager.default.changeCurrentDirectoryPath(previous) }
        func fails(_ arguments: [String], _ expected: String, file: StaticString = #filePath,
                   line: UInt = #line) throws {
            let run = try ProcessRunner.run(ProcessRunner.autosam.path, arguments)
            XCTAssertNotEqual(run.status, 0, run.output, file: file, line: line)
            XCTAssertTrue(run.stderr.contains(expected), "\(arguments): expected '\(expected)' in: \(run.output)",
                          file: file, line: line)
            for raw in ["NSCocoaErrorDomain", "Fatal error", "dataCorrupted", "Error Domain"] {
                XCTAssertFalse(run.output.contains(raw), "\(arguments): \(run.output)", file: file, line: line)
            }
        }
        try fails(["train", "--set", "optim.epochs=2.5"],
                  "--set optim.epochs=2.5: optim.epochs must be an integer, got 2.5")
        try fails(["train", "--set", "optim.epochs=1e300"],
                  "--set optim.epochs=1e300: optim.epochs must be an integer, got 1e300")
        try fails(["train", "--set", "data.classes=1000"],
                  "--set data.classes=1000: data.classes must be in 2...256, got 1000")
        try fails(["prepare", "-c", dir.path], "\(dir.path) is a folder, not a config file")
        try fails(["train", "-c", "missing.json"], "\(dir.path)/missing.json: no such config file")
        try #"{"optim": {"epochs": 3, "epochs": 4}}"#
            .write(to: dir.appendingPathComponent("dup.json"), atomically: true, encoding: .utf8)
        try fails(["embed", "-c", "dup.json"],
                  "\(dir.path)/dup.json: duplicate key 'optim.epochs' at line 1, column 25")
        try "x".write(to: dir.appendingPathComponent("afile"), atomically: true, encoding: .utf8)
        try fails(["train", "--set", "output.dir=afile"], "output.dir \(dir.path)/afile is a file, not a folder")
        try fails(["train", "--set", "output.dir=afile/run"],
                  "cannot create output.dir \(dir.path)/afile/run: \(dir.path)/afile is a file, not a folder")
        try fails(["prepare", "--set", "output.dir=afile"], "output.dir \(dir.path)/afile is a file, not a folder")
        try fails(["train", "--resume", "nonsense"],
                  "--resume 'nonsense' is neither 'auto' nor a checkpoint folder (.../checkpoints/epoch_NNNN or ")
        try fails(["train", "--resume", "run/seed_0/checkpoints/epoch_0003"],
                  "--resume 'run/seed_0/checkpoints/epoch_0003': "
                  + "no such checkpoint folder \(dir.path)/run/seed_0/checkpoints/epoch_0003")
    }
}
