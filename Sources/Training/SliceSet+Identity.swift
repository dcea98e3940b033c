import TensorFiles
import Config
import Datasets
import Embeddings
import Foundation
import Runs

extension SliceSet {
    /// What a run trains on, as a hex SHA-256: every volume's name, shape and spacing and the
    /// bits of its (normalised) intensities and labels, in set order. Recorded in checkpoints, so
    /// a resume on data that changed since (edited, re-exported, other volumes) is refused.
    public var identity: String {
        var hash = SHA256()
        for v in volumes {
            let line = "\(v.name) \(v.depth)x\(v.height)x\(v.width) "
                + "\(v.spacing.slice) \(v.spacing.row) \(v.spacing.column)\n"
            hash.update(Data(line.utf8))
            v.image.withUnsafeBytes { hash.update($0) }
            v.labels?.withUnsafeBytes { hash.update($0) }
        }
        return SHA256.hexString(hash.finalize())
    }
}
