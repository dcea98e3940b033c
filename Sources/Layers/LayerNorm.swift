import Tensors

/// Layer normalisation over the last axis, PyTorch `nn.LayerNorm(C, eps)`:
/// `y = (x - mean) / sqrt(var + eps) * weight + bias`, with the biased variance (divide by C).
/// SAM's ViT uses eps 1e-6, the two-way transformer 1e-5.
///
/// Shapes: N rows (leading dims flattened), C features. Saved for backward: `mean` (N) and
/// `rstd` (N) = `1 / sqrt(var + eps)`.
public enum LayerNorm {
    /// y (N, C) <- x (N, C), weight (C), bias (C); writes mean (N), rstd (N). `y` may alias `x`.
    /// Rows run on the BLAS threads' cores (`RowParallel`), each computed by one thread.
    public static func forward(
        y: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
        x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
        rows n: Int, features c: Int, eps: Float
    ) {
        let inverseCount = 1 / Float(c)
        RowParallel.run(rows: n, width: c) { rows in
            for r in rows {
                let xr = x + r &* c, yr = y + r &* c
                let m = FastMath.sum(xr, count: c) * inverseCount
                let variance = FastMath.sumOfSquaredDeviations(xr, from: m, count: c) * inverseCount
                let s = 1 / (variance + eps).squareRoot()
                mean[r] = m
                rstd[r] = s
                for j in 0..<c { yr[j] = (xr[j] - m) * s * weight[j] + bias[j] }
            }
        }
    }

    /// Rows per block of the parameter-gradient partial sums in `backward` (fixed, so the summation
    /// order does not depend on the thread count).
    static let gradientBlockRows = 1024

    /// Accumulates, with `xhat = (x - mean) rstd` and `g = dy * weight`:
    /// `dx += rstd (g - mean_j(g) - xhat mean_j(g xhat))`, `dWeight += sum_rows dy xhat`,
    /// `dBias += sum_rows dy` (each skipped when nil). Rows run on the cores (`RowParallel`); the
    /// parameter gradients are summed per block of `gradientBlockRows` rows, blocks added in order.
    /// dy (N, C), x (N, C), mean (N), rstd (N), weight (C).
    public static func backward(
        dx: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>?, dBias: UnsafeMutablePointer<Float>?,
        dy: UnsafePointer<Float>, x: UnsafePointer<Float>, mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
        weight: UnsafePointer<Float>, rows n: Int, features c: Int
    ) {
        let inverseCount = 1 / Float(c), blockRows = gradientBlockRows, blocks = (n + blockRows - 1) / blockRows
        let weightSums = dWeight == nil ? nil : PartialSums(count: c, blocks)
        let biasSums = dBias == nil ? nil : PartialSums(count: c, blocks)
        RowParallel.run(rows: blocks, width: blockRows * c) { blockRange in
            for block in blockRange {
                let dW = weightSums?[block], dB = biasSums?[block]
                dW?.update(repeating: 0, count: c)
                dB?.update(repeating: 0, count: c)
                for r in block * blockRows ..< min(n, (block + 1) * blockRows) {
                    let xr = x + r &* c, dyr = dy + r &* c
                    let m = mean[r], s = rstd[r]
                    if let dW {
                        for j in 0..<c { dW[j] += dyr[j] * ((xr[j] - m) * s) }
                    }
                    if let dB {
                        for j in 0..<c { dB[j] += dyr[j] }
                    }
                    guard let dx else { continue }
                    let (sumG, sumGX) = gradientSums(dy: dyr, weight: weight, x: xr, mean: m, count: c)
                    let meanG = sumG * inverseCount, meanGXhat = sumGX * s * inverseCount
                    let dxr = dx + r &* c
                    for j in 0..<c {
                        let xhat = (xr[j] - m) * s
                        dxr[j] += s * (dyr[j] * weight[j] - meanG - xhat * meanGXhat)
                    }
                }
            }
        }
        if let dWeight { weightSums?.add(into: dWeight) }
        if let dBias { biasSums?.add(into: dBias) }
    }

    /// `(sum_j g_j, sum_j g_j (x_j - mean))` with `g = dy * weight`, 16 partial sums.
    @inline(__always)
    static func gradientSums(
        dy: UnsafePointer<Float>, weight: UnsafePointer<Float>, x: UnsafePointer<Float>, mean: Float, count c: Int
    ) -> (Float, Float) {
        var accG = SIMD16<Float>(), accGX = SIMD16<Float>()
        let center = SIMD16<Float>(repeating: mean)
        var j = 0
        while j &+ 16 <= c {
            let g = FastMath.load16(dy, j) * FastMath.load16(weight, j)
            accG += g
            accGX.addProduct(g, FastMath.load16(x, j) - center)
            j &+= 16
        }
        var sumG = accG.sum(), sumGX = accGX.sum()
        while j < c {
            let g = dy[j] * weight[j]
            sumG += g
            sumGX += g * (x[j] - mean)
            j &+= 1
        }
        return (sumG, sumGX)
    }
}
