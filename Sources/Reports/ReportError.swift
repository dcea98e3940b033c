import Runs

/// A run folder the report cannot be made from: the file and what was wrong (the run layer's
/// `RunFileError`, under the name the report's callers and tests use).
public typealias ReportError = RunFileError
