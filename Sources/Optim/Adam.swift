import Foundation

/// Adam over one flat parameter buffer, with PyTorch's single-tensor semantics
/// (torch.optim.Adam, no weight decay, no amsgrad):
///
///     m = b1*m + (1-b1)*g            v = b2*v + (1-b2)*g*g
///     p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
///
/// eps is added after the bias correction of sqrt(v). Every rank applies the same update to the
/// same buffers, so parameters stay bit-identical across ranks (DESIGN §4.4).
public struct Adam: Codable, Equatable, Sendable {
    public var lr: Float
    public var beta1: Float
    public var beta2: Float
    public var eps: Float
    /// First and second moments, same length as the parameter buffer.
    public private(set) var m: [Float]
    public private(set) var v: [Float]
    /// Steps taken so far (t of the last update).
    public private(set) var step: Int = 0

    public init(count: Int, lr: Float = 5e-4, beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8) {
        self.lr = lr
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.m = [Float](repeating: 0, count: count)
        self.v = [Float](repeating: 0, count: count)
    }

    /// Restores moments and step from a checkpoint.
    public init(lr: Float, beta1: Float, beta2: Float, eps: Float, m: [Float], v: [Float], step: Int) {
        precondition(m.count == v.count, "moment buffers differ in length")
        self.lr = lr
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.m = m
        self.v = v
        self.step = step
    }

    /// One update of `params` with gradient `grads` (both `m.count` long).
    public mutating func update(_ params: inout [Float], gradients grads: [Float]) {
        precondition(params.count == m.count && grads.count == m.count,
                     "Adam over \(m.count) values got params \(params.count), grads \(grads.count)")
        step += 1
        let t = Double(step)
        let bc1 = 1 - pow(Double(beta1), t)
        let bc2Sqrt = (1 - pow(Double(beta2), t)).squareRoot()
        let stepSize = Float(Double(lr) / bc1)
        let invBc2Sqrt = Float(bc2Sqrt)
        let (b2, e) = (beta2, eps)
        let oneMinusB1 = 1 - beta1, oneMinusB2 = 1 - b2
        let n = params.count
        m.withUnsafeMutableBufferPointer { mb in
            v.withUnsafeMutableBufferPointer { vb in
                params.withUnsafeMutableBufferPointer { pb in
                    grads.withUnsafeBufferPointer { gb in
                        let (mp, vp, pp, gp) = (mb.baseAddress!, vb.baseAddress!, pb.baseAddress!, gb.baseAddress!)
                        for i in 0..<n {
                            let g = gp[i]
                            mp[i] = mp[i] + oneMinusB1 * (g - mp[i])     // torch: exp_avg.lerp_(g, 1-b1)
                            vp[i] = vp[i] * b2 + oneMinusB2 * g * g
                            let denom = vp[i].squareRoot() / invBc2Sqrt + e
                            pp[i] -= stepSize * (mp[i] / denom)
                        }
                    }
                }
            }
        }
    }
}
