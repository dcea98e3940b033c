import XCTest
@testable import Baselines
@testable import Config
@testable import Embeddings
@testable import Evaluation
@testable import Experiments
@testable import Runs
@testable import Training

final class ConfigLoaderTests: XCTestCase {
    private func write(_ text: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cfg-\(UUID().uuidString).json")
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    func testDefaultsComeFromOnePlace() throws {
        XCTAssertEqual(try ConfigLoader.load(file: nil), ExperimentConfig())
    }

    func testFileValuesAndOverridesApply() throws {
        let url = try write(#"{"name": "x", "head": {"kind": "cnn", "depth": 3}, "seeds": [7]}"#)
        let c = try ConfigLoader.load(file: url, overrides: ["optim.lr=0.001", "head.kind=linear", "data.root=/tmp/d"])
        XCTAssertEqual(c.name, "x")
        XCTAssertEqual(c.head.kind, .linear)
        XCTAssertEqual(c.head.depth, 3)
        XCTAssertEqual(c.head.channels, 64)     // untouched default
        XCTAssertEqual(c.optim.lr, 0.001)
        XCTAssertEqual(c.seeds, [7])
        XCTAssertEqual(c.data.root, "/tmp/d")
    }

    func testUnknownKeysAreRejectedByName() throws {
        let url = try write(#"{"head": {"knd": "cnn"}}"#)
        XCTAssertThrowsError(try ConfigLoader.load(file: url)) { e in
            XCTAssertTrue("\(e)".contains("unknown key 'head.knd'"), "\(e)")
            XCTAssertTrue("\(e)".contains("did you mean 'kind'"), "\(e)")
            XCTAssertTrue("\(e)".contains(url.path), "\(e)")
        }
        XCTAssertThrowsError(try ConfigLoader.load(file: nil, overrides: ["optim.learning_rate=1"])) { e in
            XCTAssertTrue("\(e)".contains("unknown key 'optim.learning_rate'"), "\(e)")
        }
    }

    func testWrongTypesAndValuesAreNamed() throws {
        XCTAssertThrowsError(try ConfigLoader.load(file: nil, overrides: ["optim.epochs=many"])) { e in
            XCTAssertTrue("\(e)".contains("optim.epochs"), "\(e)")
        }
        XCTAssertThrowsError(try ConfigLoader.load(file: nil, overrides: ["head.kind=transformer"])) { e in
            XCTAssertTrue("\(e)".contains("head.kind must be autosam, cnn or linear"), "\(e)")
        }
        XCTAssertThrowsError(try ConfigLoader.load(file: nil, overrides: ["encoder.decoder_heads=0"])) { e in
            XCTAssertTrue("\(e)".contains("encoder.decoder_heads must be >= 1"), "\(e)")
        }
        XCTAssertThrowsError(try ConfigLoader.load(file: nil, overrides: ["optim.validate_every=0"])) { e in
            XCTAssertTrue("\(e)".contains("optim.validate_every must be >= 1"), "\(e)")
        }
        XCTAssertThrowsError(try ConfigLoader.load(file: nil, overrides: ["optim.test_model=best", "optim.epochs=3",
                                                                          "optim.validate_every=4"])) { e in
            XCTAssertTrue("\(e)".contains("needs a validated epoch"), "\(e)")
        }
        XCTAssertThrowsError(try ConfigLoader.load(file: try write("[1, 2]"))) { e in
            XCTAssertTrue("\(e)".contains("not a JSON object"), "\(e)")
        }
        XCTAssertThrowsError(try ConfigLoader.load(file: URL(fileURLWithPath: "/nonexistent/cfg.json"))) { e in
            XCTAssertTrue("\(e)".contains("/nonexistent/cfg.json"), "\(e)")
        }
    }

    func testRenderedConfigLoadsBackIdentically() throws {
        var c = ExperimentConfig()
        c.head.kind = .cnn
        c.seeds = [3, 4]
        let url = try write(ConfigLoader.render(c))
        XCTAssertEqual(try ConfigLoader.load(file: url), c)
    }
}
