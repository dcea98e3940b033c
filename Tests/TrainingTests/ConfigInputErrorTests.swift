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

/// The config file and the output folder described plainly, and fuzzed configs that never trap
/// the loader (issue 14; the errors about keys and values are in `ConfigErrorTests`).
final class ConfigInputErrorTests: XCTestCase, ConfigTestFiles {
    // MARK: The config file itself

    func testTheConfigFileItselfIsDescribedPlainly() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("cfg-folder-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        XCTAssertEqual(message(try ConfigLoader.load(file: folder)), "\(folder.path) is a folder, not a config file")
        let missing = folder.appendingPathComponent("missing.json")
        XCTAssertEqual(message(try ConfigLoader.load(file: missing)), "\(missing.path): no such config file")
        let underFile = try write("{}").appendingPathComponent("cfg.json")
        XCTAssertEqual(message(try ConfigLoader.load(file: underFile)),
                       "\(underFile.path): no such config file (a folder in its path is a file)")
        XCTAssertEqual(message(try ConfigLoader.load(file: URL(fileURLWithPath: "/dev/zero"))),
                       "/dev/zero: not a regular file: a config is a JSON text file")
        let empty = try write("")
        XCTAssertEqual(message(try ConfigLoader.load(file: empty)),
                       "\(empty.path): not valid JSON: the text is empty at line 1, column 1")
        let cut = try write("{\"name\": \"x\",\n \"optim\": {\"epochs\": 3")
        XCTAssertEqual(message(try ConfigLoader.load(file: cut)),
                       "\(cut.path): not valid JSON: expected ',' or '}' after the value of \"epochs\", "
                       + "found end of the text at line 2, column 23")
        let trailing = try write(#"{"name": "x",}"#)
        XCTAssertEqual(message(try ConfigLoader.load(file: trailing)),
                       "\(trailing.path): not valid JSON: expected a key in double quotes, "
                       + "found '}' at line 1, column 14")
        let list = try write("[1, 2]")
        XCTAssertEqual(message(try ConfigLoader.load(file: list)),
                       "\(list.path): not a JSON object (a config is {\"key\": value, ...}), found a list")
        let deep = try write(String(repeating: "[", count: 100_000))
        XCTAssertEqual(message(try ConfigLoader.load(file: deep)),
                       "\(deep.path): not valid JSON: objects and lists nested deeper than 64 levels "
                       + "at line 1, column 65")
        if geteuid() != 0 {
            let locked = try write("{}")
            try FileManager.default.setAttributes([.posixPermissions: 0o000], ofItemAtPath: locked.path)
            XCTAssertEqual(message(try ConfigLoader.load(file: locked)),
                           "\(locked.path): cannot read the config file: permission denied")
        }
    }

    // MARK: The output folder

    func testAnUnusableOutputFolderIsDescribedPlainly() throws {
        let file = try write("{}")
        XCTAssertEqual(message(try RunFolder.create(file)), "output.dir \(file.path) is a file, not a folder")
        let below = file.appendingPathComponent("run/a")
        XCTAssertEqual(message(try RunFolder.create(below)),
                       "cannot create output.dir \(below.path): \(file.path) is a file, not a folder")
        let fresh = FileManager.default.temporaryDirectory.appendingPathComponent("out-\(UUID().uuidString)/run")
        XCTAssertNoThrow(try RunFolder.create(fresh))
        XCTAssertNoThrow(try RunFolder.create(fresh))
        if geteuid() != 0 {
            let locked = FileManager.default.temporaryDirectory.appendingPathComponent("out-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: locked, withIntermediateDirectories: true)
            try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: locked.path)
            XCTAssertEqual(message(try RunFolder.create(locked)),
                           "cannot write output.dir \(locked.path): permission denied")
            XCTAssertEqual(message(try RunFolder.create(locked.appendingPathComponent("run"))),
                           "cannot create output.dir \(locked.path)/run: permission denied")
        } else if FileManager.default.fileExists(atPath: "/sys/kernel") {
            // root writes anywhere permissions allow; sysfs refuses new folders even to root.
            let sys = URL(fileURLWithPath: "/sys/kernel/autosam-\(UUID().uuidString)")
            XCTAssertTrue(message(try RunFolder.create(sys)).hasPrefix("cannot create output.dir \(sys.path): "))
        }
    }

    // MARK: Fuzz

    /// Seeded mutations of valid configs (boundary values at random keys, repeated and unknown
    /// keys, truncation, damaged bytes, hostile --set items): `ConfigLoader` either returns a
    /// config that passes validation (and renders and loads back to itself) or throws a
    /// `ConfigError` naming its source (the file or the --set items) and, for a value, the key;
    /// it never traps or throws anything else.
    func testFuzzedConfigsLoadValidOrFailNamingTheSource() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        var bases = [ConfigLoader.render(ExperimentConfig())]
        for name in ["demo.json", "baselines/simclr_demo.json", "baselines/unet_demo.json",
                     "paper/cnn_vit_b_train1.json"] {
            bases.append(try String(contentsOf: root.appendingPathComponent("configs/\(name)"), encoding: .utf8))
        }
        let leaves = ConfigSchema.root.leafKeys
        let values = ["0", "-1", "1", "2.5", "1e300", "-1e300", "1e-300", "9223372036854775807", "-9223372036854775808",
                      "9223372036854775808", "3.0", "1E2", "-0", "\"\"", "\"x\"", "\"2\"", "null", "true", "[]", "{}",
                      "[1, 2.5]", "[-1]", "[0, 0]", "[1e300]", "{\"a\": 1}", "\"\\u0000\"", "\"\\ud800\"",
                      "\"" + String(repeating: "y", count: 20_000) + "\"",
                      "256", "257", "4096", "4097", "100000", "100001", "1024", "1025"]
        let junk = Array("{}[],:\"\\0-e.+ xtn\u{7F}".utf8) + [0x00, 0xFF, 0xC3, 0x0A]
        let rng = CounterRNG(seed: 14, stream: 0xF022)
        var counter: UInt64 = 0
        func draw(_ n: Int) -> Int {
            counter += 1
            return Int(rng.uniformInt(counter, below: UInt64(n)))
        }
        let source = "/fuzz/config.json"
        var (accepted, rejected) = (0, 0)
        var kinds: [String: Int] = [:]
        let started = Date()
        let cases = 5000
        for n in 0..<cases {
            var text = bases[draw(bases.count)]
            var overrides: [String] = []
            for _ in 0..<(1 + draw(3)) {
                let key = leaves[draw(leaves.count)]
                let value = values[draw(values.count)]
                switch draw(8) {
                case 0, 1:   // a boundary value at a key the text has, or added to its section
                    text = Self.setting(key, to: value, in: text)
                    kinds["value", default: 0] += 1
                case 2:      // the key repeated
                    text = Self.repeating(key.split(separator: ".").last.map(String.init)!, with: value, in: text)
                    kinds["duplicate", default: 0] += 1
                case 3:      // an unknown key
                    text = Self.setting(key + (draw(2) == 0 ? "_x" : ".y"), to: value, in: text)
                    kinds["unknown", default: 0] += 1
                case 4:      // cut short
                    let bytes = Array(text.utf8)
                    text = String(decoding: bytes.prefix(draw(bytes.count + 1)), as: UTF8.self)
                    kinds["truncated", default: 0] += 1
                case 5:      // a damaged byte
                    var bytes = Array(text.utf8)
                    if !bytes.isEmpty { bytes[draw(bytes.count)] = junk[draw(junk.count)] }
                    text = String(decoding: bytes, as: UTF8.self)
                    kinds["byte", default: 0] += 1
                default:     // a --set item, sometimes mangled
                    let item = ["\(key)=\(value)", "\(key)=\(value.replacingOccurrences(of: "\"", with: ""))",
                                "=\(value)", "\(key).x=1", "\(key)..z=1", "\(key)",
                                "\(key)={\"\(key)\": 1, \"\(key)\": 2}"][draw(7)]
                    overrides.append(item)
                    kinds["set", default: 0] += 1
                }
            }
            let what = "case \(n): \(text.prefix(300)) \(overrides)"
            do {
                let config = try ConfigLoader.load(json: Array(text.utf8), source: source, overrides: overrides)
                XCTAssertNoThrow(try ConfigLoader.validate(config), what)
                XCTAssertEqual(try ConfigLoader.load(json: Array(ConfigLoader.render(config).utf8), source: "rendered"),
                               config, what)
                accepted += 1
            } catch let error as ConfigError {
                rejected += 1
                // The source is the file, a --set item, or several of them joined by ", ".
                var rest = error.source
                for atom in ([source] + overrides.map { "--set \($0)" }).sorted(by: { $0.count > $1.count }) {
                    rest = rest.replacingOccurrences(of: atom, with: "")
                }
                XCTAssertTrue(!error.source.isEmpty && rest.replacingOccurrences(of: ", ", with: "").isEmpty,
                              "\(error) does not name its source; \(what)")
                XCTAssertFalse(error.message.isEmpty, what)
                if error.message.contains(" must "), !error.message.hasPrefix("not valid JSON") {
                    let named = error.message.prefix { $0 != " " }
                    XCTAssertTrue(leaves.contains { named == $0 || named.hasPrefix($0 + "[") },
                                  "\(error) names no key; \(what)")
                }
            } catch {
                XCTFail("not a ConfigError: \(error); \(what)")
            }
        }
        let seconds = Date().timeIntervalSince(started)
        print("config fuzz: \(cases) cases in \(String(format: "%.2f", seconds)) s, \(accepted) accepted, "
              + "\(rejected) rejected, mutations \(kinds.sorted { $0.key < $1.key })")
        XCTAssertGreaterThan(accepted, cases / 50, "the mutations should leave some configs valid")
        XCTAssertGreaterThan(rejected, cases / 2)
        XCTAssertLessThan(seconds, 10)
    }

    /// `text` with `"leaf": value` set inside the section of the dotted `key` (added when the
    /// section lacks it; the section is created when missing), at the text level so that the
    /// value keeps its literal spelling. Text that is not an object is returned unchanged.
    private static func setting(_ key: String, to value: String, in text: String) -> String {
        guard var object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else {
            return text
        }
        let parts = key.split(separator: ".").map(String.init)
        let marker = "@@fuzz-value@@"
        if parts.count == 1 {
            object[parts[0]] = marker
        } else {
            var section = object[parts[0]] as? [String: Any] ?? [:]
            section[parts.dropFirst().joined(separator: ".")] = marker
            object[parts[0]] = section
        }
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else {
            return text
        }
        return String(decoding: data, as: UTF8.self).replacingOccurrences(of: "\"\(marker)\"", with: value)
    }

    /// `text` with `"key": value,` inserted before the first `"key":`, repeating that key in
    /// its object.
    private static func repeating(_ key: String, with value: String, in text: String) -> String {
        guard let range = text.range(of: "\"\(key)\"") else { return text }
        return text.replacingCharacters(in: range.lowerBound..<range.lowerBound, with: "\"\(key)\": \(value), ")
    }
}
