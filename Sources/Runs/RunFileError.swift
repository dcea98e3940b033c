import Config
import Foundation

/// A problem with a file or folder of a run (checkpoint, prediction input, inspected file),
/// naming the path and what was wrong.
public struct RunFileError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let message: String
    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }
    public var description: String { "\(path): \(message)" }
}
