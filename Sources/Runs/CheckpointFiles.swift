import TensorFiles
import Collectives
import Config
import Foundation

/// A checkpoint folder's files as bytes: read by the coordinator, verified anywhere, and sent to
/// the other ranks as one message (DESIGN §4.7: ranks resume from the state the coordinator
/// chose and verified, whatever their own view of the run folder).
public struct CheckpointFiles: Equatable {
    /// The folder the files came from (named in errors).
    public let folder: String
    /// File name -> contents: state.json, COMPLETE and the tensor files that exist.
    public let files: [String: Data]

    /// Verifies the marker (SHA-256 of state.json, byte for byte), that every tensor file has a
    /// checksum in the state and matches it, and decodes the checkpoint.
    public func verified() throws -> TrainingCheckpoint {
        let marker = CheckpointStore.marker
        let statePath = folder + "/state.json"
        let stateData = files["state.json"] ?? Data()
        let recorded = files[marker].map { String(decoding: $0, as: UTF8.self) } ?? ""
        guard recorded == CheckpointStore.digest(stateData) + "\n" else {      // exactly as written
            throw RunFileError(path: statePath, message: recorded.count == 65
                ? "checksum mismatch with the \(marker) marker: the training state was edited or damaged"
                : "the \(marker) marker holds no checksum of state.json (written by an older version?): not trusted")
        }
        let state: TrainingCheckpoint.State
        do {
            let decoder = JSONDecoder()
            decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf",
                                                                            negativeInfinity: "-inf", nan: "nan")
            state = try decoder.decode(TrainingCheckpoint.State.self, from: stateData)
        } catch {
            throw RunFileError(path: statePath, message: "unreadable training state (\(error))")
        }
        if let missing = CheckpointStore.tensorFiles.first(where: { state.checksums[$0] == nil }) {
            throw RunFileError(path: statePath, message: "no checksum for \(missing): not trusted")
        }
        for (file, expected) in state.checksums.sorted(by: { $0.key < $1.key }) {
            let actual = files[file].map(CheckpointStore.digest) ?? "missing"
            guard actual == expected else {
                throw RunFileError(path: folder + "/" + file, message: "checksum mismatch (expected \(expected), "
                                   + "found \(actual)): the file is damaged")
            }
        }
        let head = try SafeTensorsFile(bytes: files["head.safetensors"] ?? Data(), path: folder + "/head.safetensors")
        let optimizer = try SafeTensorsFile(bytes: files["optimizer.safetensors"] ?? Data(),
                                            path: folder + "/optimizer.safetensors")
        let params = try head.names.filter { $0.hasPrefix("params/") }
            .map { (String($0.dropFirst(7)), try head.tensor($0)) }
        let frozen = try head.names.filter { $0.hasPrefix("frozen/") }
            .map { (String($0.dropFirst(7)), try head.tensor($0)) }
        var checkpoint = TrainingCheckpoint(state: state, params: params, frozen: frozen,
                                            adamM: try optimizer.tensor("exp_avg").data,
                                            adamV: try optimizer.tensor("exp_avg_sq").data)
        checkpoint.origin = folder
        return checkpoint
    }

    /// One message: the folder, then each (name, contents), all length-prefixed (`MessageWriter`).
    public func serialized() -> [UInt8] {
        var out = MessageWriter()
        out.put(folder)
        for (name, data) in files.sorted(by: { $0.key < $1.key }) {
            out.put(name)
            out.put(data)
        }
        return out.bytes
    }

    /// The inverse of `serialized()`; nil for a malformed message.
    public init?(serialized bytes: [UInt8]) {
        var reader = MessageReader(bytes, what: "checkpoint")
        guard let folder = try? reader.string() else { return nil }
        var files: [String: Data] = [:]
        while !reader.isAtEnd {
            guard let name = try? reader.string(), let data = try? reader.data() else { return nil }
            files[name] = data
        }
        self.init(folder: folder, files: files)
    }

    public init(folder: String, files: [String: Data]) {
        self.folder = folder
        self.files = files
    }
}
