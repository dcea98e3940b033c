import Foundation

/// A run folder the report cannot be made from: the file, what was wrong, and what to do.
public struct ReportError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }
}
