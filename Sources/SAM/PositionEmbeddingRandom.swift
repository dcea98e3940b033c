import Foundation
import Tensors

/// SAM's random-Fourier positional encoding (DESIGN §3.2): for a point with coordinates
/// (x, y) in [0, 1], `t = 2 pi ((2x - 1) G[0, :] + (2y - 1) G[1, :])` and the embedding is
/// `[sin(t), cos(t)]` (sin first), D = 2F channels for the gaussian matrix G (2, F).
/// ref: segment_anything/modeling/prompt_encoder.py @ dca509f, `PositionEmbeddingRandom`.
/// Computed in float32 like the reference (a few ulps from it).
public struct PositionEmbeddingRandom: Sendable {
    /// G (2, F): `positional_encoding_gaussian_matrix`.
    public let gaussian: Tensor

    public init(gaussian: Tensor) {
        precondition(gaussian.rank == 2 && gaussian.shape[0] == 2,
                     "the gaussian matrix is (2, F), got \(gaussian.shape)")
        self.gaussian = gaussian
    }

    /// A fresh matrix of standard normals (scale 1, as `torch.randn((2, F))`) from `rng`; AutoSAM
    /// draws its own instead of loading SAM's.
    public init(features: Int, rng: CounterRNG) {
        self.init(gaussian: Tensor(shape: [2, features], data: rng.normals(2 * features)))
    }

    /// F; the embedding has 2F channels.
    public var features: Int { gaussian.shape[1] }

    /// Dense encoding of an h x w grid, (2F, h, w): pixel (i, j) sits at ((j + 0.5) / w, (i + 0.5) / h).
    /// ref: `PositionEmbeddingRandom.forward`.
    public func dense(height h: Int, width w: Int) -> Tensor {
        let f = features
        var out = Tensor(zeros: [2 * f, h, w])
        var row = [Float](repeating: 0, count: 2 * f)
        for i in 0..<h {
            for j in 0..<w {
                encode(x: (Float(j) + 0.5) / Float(w), y: (Float(i) + 0.5) / Float(h), into: &row)
                for c in 0..<(2 * f) { out.data[(c * h + i) * w + j] = row[c] }
            }
        }
        return out
    }

    /// Encodes n points given in pixels of an image of the given size, xy (n, 2) -> (n, 2F):
    /// x is divided by the width and y by the height. ref: `forward_with_coords`.
    public func encode(coordinates xy: [Float], imageHeight: Int, imageWidth: Int) -> Tensor {
        precondition(xy.count % 2 == 0, "coordinates come in (x, y) pairs")
        let n = xy.count / 2, f = features
        var out = Tensor(zeros: [n, 2 * f])
        var row = [Float](repeating: 0, count: 2 * f)
        for k in 0..<n {
            encode(x: xy[2 * k] / Float(imageWidth), y: xy[2 * k + 1] / Float(imageHeight), into: &row)
            out.data.replaceSubrange(k * 2 * f ..< (k + 1) * 2 * f, with: row)
        }
        return out
    }

    /// row (2F) <- [sin(t), cos(t)] for normalised coordinates (x, y).
    private func encode(x: Float, y: Float, into row: inout [Float]) {
        let f = features, twoPi = Float(2 * Double.pi)
        let cx = 2 * x - 1, cy = 2 * y - 1
        for c in 0..<f {
            let t = twoPi * (cx * gaussian.data[c] + cy * gaussian.data[f + c])
            row[c] = sin(t)
            row[f + c] = cos(t)
        }
    }
}
