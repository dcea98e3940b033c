import Config
import Embeddings
import Heads
import Layers
import Runs

public typealias SegmentationLossParts = SegmentationLoss.Parts

/// Training failures: non-finite values (always checked), rank divergence (debug checks),
/// resume refusals.
public enum TrainingError: Error, CustomStringConvertible {
    case nonFinite(String)
    case diverged(String)
    case resume(String)
    case injected(String)
    public var description: String {
        switch self {
        case .nonFinite(let what): return "NaN or Inf in the \(what)"
        case .diverged(let what): return what
        case .resume(let what): return "cannot resume: \(what)"
        case .injected(let what): return what
        }
    }
}
