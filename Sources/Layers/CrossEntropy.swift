/// Cross-entropy over class logits, PyTorch `nn.CrossEntropyLoss()` (no class weights, no
/// ignore index): `loss = (1 / normalizer) sum_{b, pixels} -log softmax_k(logits)[label]`, with
/// `-log softmax[label] = logsumexp_k(logits) - logits[label]` (no log of a small probability).
///
/// `normalizer` defaults to B * P (PyTorch's mean); distributed training passes the global pixel
/// count so that the ranks' losses and gradients sum to the global mean.
///
/// Shapes: B batch, K classes, P = H * W pixels; logits and probabilities (B, K, P) NCHW,
/// labels (B, P) in 0..<K.
public enum CrossEntropy {
    /// probabilities (B, K, P) <- softmax over K of logits (B, K, P); returns the loss.
    /// The probabilities are what `backward` needs and what the Dice loss consumes.
    public static func forward(
        probabilities: UnsafeMutablePointer<Float>, logits: UnsafePointer<Float>, labels: UnsafePointer<Int32>,
        batch b: Int, classes k: Int, pixels p: Int, normalizer: Double? = nil
    ) -> Double {
        let logSumExp = UnsafeMutablePointer<Float>.allocate(capacity: b &* p)   // (B, P)
        defer { logSumExp.deallocate() }
        ChannelSoftmax.forward(y: probabilities, logSumExp: logSumExp, x: logits, batch: b, channels: k, pixels: p)
        var total = 0.0
        for i in 0..<b {
            for q in 0..<p {
                let label = Int(labels[i &* p &+ q])
                precondition(label >= 0 && label < k, "label \(label) outside 0..<\(k) at batch \(i), pixel \(q)")
                total += Double(logSumExp[i &* p &+ q]) - Double(logits[(i &* k &+ label) &* p &+ q])
            }
        }
        return total / (normalizer ?? Double(b &* p))
    }

    /// Accumulates `dLogits += (probabilities - onehot(labels)) * upstream / normalizer`.
    /// probabilities (B, K, P) from `forward`, labels (B, P).
    public static func backward(
        dLogits: UnsafeMutablePointer<Float>, upstream: Float, probabilities: UnsafePointer<Float>,
        labels: UnsafePointer<Int32>, batch b: Int, classes k: Int, pixels p: Int, normalizer: Double? = nil
    ) {
        let scale = Float(Double(upstream) / (normalizer ?? Double(b &* p)))
        for i in 0..<b {
            for c in 0..<k {
                let o = (i &* k &+ c) &* p
                let pc = probabilities + o, dc = dLogits + o
                for q in 0..<p { dc[q] += pc[q] * scale }
            }
            for q in 0..<p {
                let label = Int(labels[i &* p &+ q])
                dLogits[(i &* k &+ label) &* p &+ q] -= scale
            }
        }
    }
}
