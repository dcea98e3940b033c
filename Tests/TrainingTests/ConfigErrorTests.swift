import TensorFiles
import Foundation
import Tensors
import TestSupport
import XCTest
@testable import Baselines
@testable import Config
@testable import Embeddings
@testable import Evaluation
@testable import Experiments
@testable import Runs
@testable import Training

/// Config and command-line errors that say exactly what is wrong (issue 14): which key, which
/// source (the file or the `--set` item), what was given; no value that could reach a
/// precondition downstream gets through; no input traps the loader.
final class ConfigErrorTests: XCTestCase, ConfigTestFiles {
    // MARK: Duplicate keys

    func testDuplicateKeysAreErrorsNamingTheKeyPathAndTheFile() throws {
        let top = try write(#"{"name": "a", "seeds": [0], "name": "b"}"#)
        XCTAssertEqual(message(try ConfigLoader.load(file: top)),
                       "\(top.path): duplicate key 'name' at line 1, column 29, first at line 1, column 2: "
                       + "a key may appear once per object")
        let nested = try write("""
        {"optim": {"epochs": 3,
                   "lr": 0.001,
                   "epochs": 4}}
        """)
        let e = message(try ConfigLoader.load(file: nested))
        XCTAssertTrue(e.hasPrefix("\(nested.path): duplicate key 'optim.epochs' at line 3"), e)
        // The same key spelled with an escape is the same key; an escaped quote inside a string
        // value does not end it early.
        let escaped = try write(#"{"name": "x\"name\": 1", "data": {"root": "a", "r\u006fot": "b"}}"#)
        XCTAssertTrue(message(try ConfigLoader.load(file: escaped)).contains("duplicate key 'data.root'"))
        // Inside a list (the reader, below any config key), and in a --set object.
        XCTAssertThrowsError(try StrictJSON.parse(Array(#"{"a": [1, {"b": 1, "b": 2}]}"#.utf8))) { error in
            XCTAssertTrue((error as? StrictJSON.TextError)?.message.contains("duplicate key 'a[1].b'") == true,
                          "\(error)")
        }
        XCTAssertEqual(message(try ConfigLoader.load(file: nil, overrides: [#"optim={"epochs": 2, "epochs": 3}"#])),
                       #"--set optim={"epochs": 2, "epochs": 3}: duplicate key 'optim.epochs' at line 1, column 15, "#
                       + "first at line 1, column 2: a key may appear once per object")
        // Distinct keys that merely look alike are fine.
        XCTAssertEqual(try ConfigLoader.load(file: try write(#"{"data": {"root": "r"}, "cache": {"dir": "root"}}"#))
                           .data.root, "r")
    }

    // MARK: Numbers and types

    func testSetValuesOfTheWrongTypeNameTheSetAndTheKey() throws {
        XCTAssertEqual(message(try ConfigLoader.load(file: nil, overrides: ["optim.epochs=2.5"])),
                       "--set optim.epochs=2.5: optim.epochs must be an integer, got 2.5")
        XCTAssertEqual(message(try ConfigLoader.load(file: nil, overrides: ["optim.epochs=1e300"])),
                       "--set optim.epochs=1e300: optim.epochs must be an integer, got 1e300 "
                       + "(outside the 64-bit integer range)")
        XCTAssertEqual(message(try ConfigLoader.load(file: nil, overrides: ["optim.epochs=many"])),
                       "--set optim.epochs=many: optim.epochs must be an integer, got \"many\"")
        XCTAssertEqual(message(try ConfigLoader.load(file: nil, overrides: ["optim.lr=1e300"])),
                       "--set optim.lr=1e300: optim.lr must be a number, got 1e300 "
                       + "(outside the 32-bit float range, about ±3.4e38)")
        XCTAssertEqual(message(try ConfigLoader.load(file: nil, overrides: ["optim.lr=1e-60"])),
                       "--set optim.lr=1e-60: optim.lr must be a number, got 1e-60 "
                       + "(too small for a 32-bit float: it would be 0)")
        XCTAssertEqual(message(try ConfigLoader.load(file: nil, overrides: ["pretrain.temperature=1e999"])),
                       "--set pretrain.temperature=1e999: pretrain.temperature must be a number, got 1e999 "
                       + "(outside the 64-bit float range)")
        XCTAssertEqual(message(try ConfigLoader.load(file: nil, overrides: ["run.debug_checks=1"])),
                       "--set run.debug_checks=1: run.debug_checks must be true or false, got 1")
        XCTAssertEqual(message(try ConfigLoader.load(file: nil, overrides: ["seeds=[0, 1.5]"])),
                       "--set seeds=[0, 1.5]: seeds[1] must be an integer, got 1.5")
        XCTAssertEqual(message(try ConfigLoader.load(file: nil, overrides: ["seeds=3"])),
                       "--set seeds=3: seeds must be a list of integers, got 3")
        XCTAssertEqual(message(try ConfigLoader.load(file: nil, overrides: ["optim.epochs=null"])),
                       "--set optim.epochs=null: optim.epochs must be an integer, got null")
        XCTAssertEqual(message(try ConfigLoader.load(file: nil, overrides: ["optim.epochs=9223372036854775808"])),
                       "--set optim.epochs=9223372036854775808: optim.epochs must be an integer, "
                       + "got 9223372036854775808 (outside the 64-bit integer range)")
        XCTAssertEqual(message(try ConfigLoader.load(file: nil, overrides: ["head={\"kind\": }"])),
                       "--set head={\"kind\": }: not valid JSON: "
                       + "unexpected '}' where a value should start at line 1, column 10")
        XCTAssertEqual(message(try ConfigLoader.load(file: nil, overrides: ["optim..epochs=1"])),
                       "--set optim..epochs=1: 'optim..epochs' is not a key path "
                       + "(keys joined by '.', e.g. optim.epochs)")
    }

    func testExactlyRepresentableNumbersAreTakenExactly() throws {
        let c = try ConfigLoader.load(file: nil, overrides: ["optim.epochs=1e2", "optim.batch_size=8.0",
                                                             "data.split_seed=9223372036854775807",
                                                             "seeds=[0, 20E-1, 3]", "optim.lr=0.00025", "name=2024",
                                                             "data.root=\"quoted\""])
        XCTAssertEqual(c.optim.epochs, 100)
        XCTAssertEqual(c.optim.batch_size, 8)
        XCTAssertEqual(c.data.split_seed, Int.max)
        XCTAssertEqual(c.seeds, [0, 2, 3])
        XCTAssertEqual(c.optim.lr, 0.00025)
        XCTAssertEqual(c.name, "2024")          // a string key takes the --set text as is
        XCTAssertEqual(c.data.root, "quoted")   // unless it is a quoted JSON string
        for (text, expected) in [("0", NumberLiteral.IntegerValue.exact(0)), ("-0.0e5", .exact(0)),
                                 ("12.55e1", .fractional), ("12.50e1", .exact(125)),
                                 ("1250e-1", .exact(125)), ("-9223372036854775808", .exact(Int.min)),
                                 ("-9223372036854775809", .outOfRange), ("1e19", .outOfRange),
                                 ("1e-999999999999", .fractional), ("0.000e99999999999999999", .exact(0)),
                                 ("123456789012345678e1", .exact(1_234_567_890_123_456_780)),
                                 ("9223372036854775807e1", .outOfRange)] {
            XCTAssertEqual(NumberLiteral(text).integer, expected, text)
        }
    }

    func testFileValuesOfTheWrongTypeNameTheFileAndTheKey() throws {
        let url = try write(#"{"optim": {"epochs": 2.5}}"#)
        XCTAssertEqual(message(try ConfigLoader.load(file: url)),
                       "\(url.path): optim.epochs must be an integer, got 2.5")
        let text = try write(#"{"data": {"root": 5}}"#)
        XCTAssertEqual(message(try ConfigLoader.load(file: text)), "\(text.path): data.root must be a string, got 5")
        let section = try write(#"{"optim": 5}"#)
        XCTAssertEqual(message(try ConfigLoader.load(file: section)),
                       "\(section.path): key 'optim' is a section; give an object, not 5")
        let dotted = try write(#"{"optim.epochs": 5}"#)
        XCTAssertEqual(message(try ConfigLoader.load(file: dotted)),
                       "\(dotted.path): unknown key 'optim.epochs' (in a file, nest it: \"optim\": {\"epochs\": ...})")
        let nul = try write(#"{"output": {"dir": "runs/a\u0000b"}}"#)
        XCTAssertEqual(message(try ConfigLoader.load(file: nul)),
                       "\(nul.path): output.dir must not contain a NUL character (\\u0000)")
    }

    // MARK: Which source set the key

    func testRangeErrorsNameTheSourceThatSetTheKeyLast() throws {
        let url = try write(#"{"data": {"classes": 1000, "fold": 3}, "optim": {"epochs": 5}}"#)
        XCTAssertEqual(message(try ConfigLoader.load(file: url)),
                       "\(url.path): data.classes must be in 2...256, got 1000")
        // The --set that changed it is named, not the file.
        XCTAssertEqual(message(try ConfigLoader.load(file: url, overrides: ["data.classes=4", "optim.epochs=0"])),
                       "--set optim.epochs=0: optim.epochs must be in 1...100000, got 0")
        // A check over two keys names both sources.
        XCTAssertEqual(message(try ConfigLoader.load(file: url, overrides: ["data.classes=4", "data.folds=2"])),
                       "\(url.path), --set data.folds=2: data.fold must be in 0..<data.folds (0...1), got 3")
        // A key set twice: the last --set wins and is named.
        XCTAssertEqual(message(try ConfigLoader.load(file: nil, overrides: ["data.classes=4", "data.classes=300"])),
                       "--set data.classes=300: data.classes must be in 2...256, got 300")
    }

    /// Every value a precondition or integer conversion downstream relies on is checked when the
    /// config is loaded (VolumeLoader classes, UInt64 seeds, Splits folds, BLAS threads, the
    /// UNet's 1 << depth, batch arithmetic, ...).
    func testValuesThatWouldReachAPreconditionAreRejected() throws {
        let cases: [(String, String)] = [
            ("data.classes=1000", "data.classes must be in 2...256, got 1000"),
            ("data.classes=1", "data.classes must be in 2...256, got 1"),
            ("data.slice_size=4", "data.slice_size must be in 8...4096, got 4"),
            ("data.slice_size=100000", "data.slice_size must be in 8...4096, got 100000"),
            ("data.bank_views=0", "data.bank_views must be in 1...1000, got 0"),
            ("data.folds=0", "data.folds must be in 1...1000, got 0"),
            ("data.folds=-9223372036854775808", "data.folds must be in 1...1000, got -9223372036854775808"),
            ("data.fold=-1", "data.fold must be in 0..<data.folds (0...4), got -1"),
            ("data.train_size=-1", "data.train_size must be >= 0, got -1"),
            ("data.split_seed=-1", "data.split_seed must be >= 0, got -1"),
            ("data.synthesize_patients=-3", "data.synthesize_patients must be in 0...999, got -3"),
            ("data.root=", "data.root must name a folder, got an empty string"),
            ("encoder.random_seed=-1", "encoder.random_seed must be >= 0, got -1"),
            ("encoder.decoder_heads=0", "encoder.decoder_heads must be >= 1, got 0"),
            ("head.depth=64", "head.depth must be in 2...5, got 64"),
            ("head.channels=0", "head.channels must be in 1...1024, got 0"),
            ("optim.batch_size=0", "optim.batch_size must be in 1...100000, got 0"),
            ("optim.batch_size=9223372036854775807", "optim.batch_size must be in 1...100000, got 9223372036854775807"),
            ("optim.lr=-0.1", "optim.lr must be a positive number, got -0.1"),
            ("optim.scheduler_start_epoch=-1", "optim.scheduler_start_epoch must be >= 0, got -1"),
            ("pretrain.batch_size=1", "pretrain.batch_size must be in 2...100000, got 1"),
            ("pretrain.temperature=0", "pretrain.temperature must be a positive number, got 0.0"),
            ("pretrain.projection_dim=0", "pretrain.projection_dim must be in 1...8192, got 0"),
            ("pretrain.projection_hidden=-1", "pretrain.projection_hidden must be in 0...8192, got -1"),
            ("pretrain.micro_batch=-1", "pretrain.micro_batch must be in 0...100000, got -1"),
            ("seeds=[0, -1]", "seeds[1] must be >= 0, got -1"),
            ("seeds=[]", "seeds must be a non-empty list of distinct integers, got []"),
            ("output.dir=", "output.dir must name a folder, got an empty string"),
            ("output.keep_checkpoints=0", "output.keep_checkpoints must be >= 1, got 0"),
            ("output.checkpoint_every=0", "output.checkpoint_every must be >= 1, got 0"),
            ("run.threads=3000000000", "run.threads must be in 0...1024, got 3000000000"),
            ("run.progress_every=-1", "run.progress_every must be >= 0 seconds (0: no progress lines), got -1.0"),
            ("run.collective_timeout=-1",
             "run.collective_timeout must be >= 0 seconds (0 disables the watchdog), got -1.0"),
        ]
        for (set, expected) in cases {
            XCTAssertEqual(message(try ConfigLoader.load(file: nil, overrides: [set])), "--set \(set): \(expected)")
        }
        // The UNet's divisibility check comes after the depth range, so 1 << depth is safe.
        let unet = ["head.kind=unet", "head.depth=4", "data.slice_size=40"]
        XCTAssertEqual(message(try ConfigLoader.load(file: nil, overrides: unet)),
                       "--set data.slice_size=40, --set head.depth=4, --set head.kind=unet: "
                       + "data.slice_size must be a multiple of 2^head.depth for the unet (16), got 40")
    }

    /// The mask decoder's head count must divide the checkpoint's widths (else a precondition
    /// in `TwoWayTransformerConfig` stopped the process when the head was built).
    func testDecoderHeadsAreCheckedAgainstTheCheckpoint() throws {
        let checkpoint = Fixtures.url("tiny_sam.safetensors")
        let archive = try Fixtures.file("tiny_sam")
        let query = "mask_decoder.transformer.layers.0.cross_attn_token_to_image.q_proj.weight"
        let inner = try XCTUnwrap(archive.info(query).shape.first)
        let dim = try XCTUnwrap(archive.info("mask_decoder.transformer.norm_final_attn.weight").shape.first)
        let base = ["encoder.checkpoint=\(checkpoint.path)", "encoder.preset=auto"]
        XCTAssertNoThrow(try ConfigLoader.load(file: nil, overrides: base + ["encoder.decoder_heads=1"]))
        let bad = "encoder.decoder_heads=\(inner + 1)"
        XCTAssertEqual(message(try ConfigLoader.load(file: nil, overrides: base + [bad])),
                       "--set \(bad): encoder.decoder_heads must divide the mask decoder widths \(dim) and \(inner) "
                       + "of \(checkpoint.path) (every SAM release: 8), got \(inner + 1)")
        // Heads without a decoder to build (cnn) are not checked against it.
        XCTAssertNoThrow(try ConfigLoader.load(file: nil, overrides: base + [bad, "head.kind=cnn"]))
    }
}

/// Config files and error texts for the config error tests.
protocol ConfigTestFiles {}

extension ConfigTestFiles {
    /// `text` in a fresh temporary `.json` file.
    func write(_ text: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cfg-\(UUID().uuidString).json")
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    /// The error `body` throws, as text ("(no error)" when it does not throw).
    func message(_ body: @autoclosure () throws -> Any) -> String {
        do {
            _ = try body()
            return "(no error)"
        } catch {
            return "\(error)"
        }
    }
}
