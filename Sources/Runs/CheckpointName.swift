import Config
import Foundation

/// Where in training a checkpoint was taken, and its folder name (the one parser of it):
/// `epoch_0007` after 7 complete epochs, `epoch_0007_step_00012` after 12 steps of the 8th.
/// Ordered by (epoch, steps).
public struct CheckpointName: Comparable, Hashable, CustomStringConvertible {
    /// Epochs completed.
    public let epoch: Int
    /// Steps done of the next epoch (0 at an epoch boundary).
    public let steps: Int

    public init(epoch: Int, steps: Int = 0) {
        precondition(epoch >= 0 && steps >= 0, "negative checkpoint position")
        self.epoch = epoch
        self.steps = steps
    }

    /// Parses a folder name; nil for anything else (also for stray characters or signs).
    public init?(folderName: String) {
        let parts = folderName.split(separator: "_", omittingEmptySubsequences: false)
        func number(_ s: Substring) -> Int? {
            s.isEmpty || !s.allSatisfy(\.isASCII) || !s.allSatisfy(\.isNumber) ? nil : Int(s)
        }
        if parts.count == 2, parts[0] == "epoch", let e = number(parts[1]) {
            self.init(epoch: e)
        } else if parts.count == 4, parts[0] == "epoch", parts[2] == "step", let e = number(parts[1]),
                  let s = number(parts[3]), s > 0 {
            self.init(epoch: e, steps: s)
        } else {
            return nil
        }
    }

    public var isEpochBoundary: Bool { steps == 0 }

    public var folderName: String {
        String(format: "epoch_%04d", epoch) + (steps == 0 ? "" : String(format: "_step_%05d", steps))
    }

    public var description: String {
        steps == 0 ? "epoch \(epoch)" : "epoch \(epoch) + \(steps) steps"
    }

    public static func < (a: Self, b: Self) -> Bool { (a.epoch, a.steps) < (b.epoch, b.steps) }
}
