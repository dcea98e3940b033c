import Collectives
import Config
import Embeddings
import Runs
import Training

/// Label maps predicted on several ranks, gathered on the coordinator by volume index.
public enum LabelMapGather {
    /// Every rank passes its (volume index, label map) pairs; the coordinator gets all `count`
    /// maps indexed by volume (a volume nobody predicted is an error), the other ranks nil.
    public static func gather(_ mine: [(volume: Int, labels: [UInt8])], count: Int,
                              comm: Communicator) throws -> [[UInt8]]? {
        var payload: [UInt8] = []
        for (v, labels) in mine {
            withUnsafeBytes(of: Int64(v).littleEndian) { payload += $0 }
            withUnsafeBytes(of: Int64(labels.count).littleEndian) { payload += $0 }
            payload += labels
        }
        guard let parts = try comm.gather(payload, root: 0) else { return nil }
        var result = [[UInt8]?](repeating: nil, count: count)
        for part in parts {
            var offset = 0
            while offset < part.count {
                let (v, n) = part.withUnsafeBytes { raw in
                    (Int(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: Int64.self))),
                     Int(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 8, as: Int64.self))))
                }
                result[v] = Array(part[(offset + 16)..<(offset + 16 + n)])
                offset += 16 + n
            }
        }
        guard let missing = result.firstIndex(where: { $0 == nil }) else { return result.map { $0! } }
        throw CollectiveError(rank: comm.rank, operation: "gather label maps",
                              detail: "no rank predicted volume \(missing)")
    }
}
