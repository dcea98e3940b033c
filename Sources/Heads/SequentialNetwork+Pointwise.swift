import Layers
import Tensors

/// Runs of pointwise layers (1x1 convolutions, ReLU, GELU) executed tile by tile: every layer of
/// the run is applied to one tile of pixels (all channels) while it is in cache, instead of one
/// layer over the whole map at a time. The linear head's tail (GELU, conv 1x1, ReLU, conv 1x1,
/// ReLU on 256^2 maps) and the CNN head's input block are such runs; layer by layer they are
/// memory-bound element passes and GEMMs with k <= 64.
///
/// Same arithmetic as the layer-by-layer path except the summation order of the parameter
/// gradients: each tile's partial dW and db is reduced in tile order, so results do not depend on
/// the thread count (each tile runs its GEMMs on one core).
///
/// Shapes: a run reads value v_in (B, C_in, H, W) and writes values on the same H x W grid; a tile
/// is P consecutive pixels of one image, each channel's P values at stride H*W.
extension SequentialNetwork {
    /// Whether forward/backward fuse pointwise runs (tests compare with the layer-by-layer path).
    public nonisolated(unsafe) static var fusesPointwiseRuns = true

    /// Floats of one activation tile (all channels): 256 KB keeps a layer's input and output tile
    /// in the per-core L2 cache.
    static let pointwiseTileBudget = 1 << 16

    /// The longest run of >= 2 pointwise layers starting at `l` that holds a 1x1 convolution.
    func pointwiseRun(from l: Int) -> Range<Int>? {
        var end = l
        while end < layers.count, layers[end].isPointwise { end += 1 }
        let run = l..<end
        return run.count >= 2 && run.contains(where: { layers[$0].isConvolution }) ? run : nil
    }

    /// The run `pointwiseRun` would find ending at `last` (inclusive), scanning back to its start.
    func pointwiseRun(endingAt last: Int) -> Range<Int>? {
        guard layers[last].isPointwise, last + 1 == layers.count || !layers[last + 1].isPointwise else { return nil }
        var start = last
        while start > 0, layers[start - 1].isPointwise { start -= 1 }
        return pointwiseRun(from: start)
    }

    /// Tiles of a run: P consecutive pixels of one image (all channels), sized so that the widest
    /// value's tile fits `pointwiseTileBudget`.
    func tiles(_ run: Range<Int>, _ ws: SequentialWorkspace) -> ImageChunks {
        let s = ws.shapes[ws.inputValue[run.lowerBound]]
        return ImageChunks(batch: ws.batch, length: s.height * s.width,
                           chunk: max(64, Self.pointwiseTileBudget / widestChannels(run, ws) / 16 * 16))
    }

    /// The most channels of any value the run reads or writes.
    func widestChannels(_ run: Range<Int>, _ ws: SequentialWorkspace) -> Int {
        let input = ws.shapes[ws.inputValue[run.lowerBound]].channels
        return run.reduce(input) { max($0, ws.shapes[ws.outputValue[$1]].channels) }
    }

    /// Forward of `run`: writes every value the layer-by-layer path writes.
    func forwardPointwise(_ run: Range<Int>, parameters: UnsafePointer<Float>, _ ws: SequentialWorkspace) {
        let tiles = tiles(run, ws), plane = tiles.length
        RowParallel.itemsWithSingleThreadedBLAS(tiles.count) { items in
            for item in items {
                let (b, pixels) = tiles[item], p0 = pixels.lowerBound, n = pixels.count
                for l in run {
                    let ci = ws.shapes[ws.inputValue[l]].channels, co = ws.shapes[ws.outputValue[l]].channels
                    let x = ws.values[ws.inputValue[l]].pointer + b * ci * plane + p0
                    let y = ws.values[ws.outputValue[l]].pointer + b * co * plane + p0
                    switch layers[l] {
                    case .conv:
                        let weight = parameters + weightOffsets[l], bias = weight + co * ci
                        for o in 0..<co { (y + o * plane).update(repeating: bias[o], count: n) }
                        Gemm.sgemm(m: co, n: n, k: ci, a: weight, lda: ci, b: x, ldb: plane, beta: 1, c: y, ldc: plane)
                    case .relu:
                        for c in 0..<co { ReLU.forward(y: y + c * plane, x: x + c * plane, count: n) }
                    case .gelu where ws.keepsGELUDerivative[l]:
                        for c in 0..<co {
                            GELU.forwardKeepingDerivativeSerial(y: y + c * plane, x: x + c * plane, count: n)
                        }
                    case .gelu:
                        for c in 0..<co { GELU.forwardSerial(y: y + c * plane, x: x + c * plane, count: n) }
                    case .convTranspose, .layerNorm2d:
                        preconditionFailure("\(layers[l]) is not pointwise")
                    }
                }
            }
        }
    }

    /// Backward of `run` from `ws.gradient` (the gradient of its last value): parameter gradients
    /// added to `gradients`; the gradient of its input value written to `ws.nextGradient` and the
    /// buffers swapped, unless the run starts the network. The run's parameters (its convolutions'
    /// weights and biases) are contiguous in the layout, so each group of tiles keeps one partial
    /// sum laid out like them.
    func backwardPointwise(_ run: Range<Int>, parameters: UnsafePointer<Float>, gradients: UnsafeMutablePointer<Float>,
                           _ ws: SequentialWorkspace) {
        let tiles = tiles(run, ws), widest = widestChannels(run, ws)
        let convs = run.filter { layers[$0].isConvolution }
        let first = weightOffsets[convs[0]], last = convs[convs.count - 1]
        let partialCount = weightOffsets[last] + layers[last].parameterCount - first
        let groups = ItemGroups(items: tiles.count, partialFloats: partialCount)
        let partials = PartialSums(count: partialCount, groups.count)
        RowParallel.itemsWithSingleThreadedBLAS(groups.count) { groupRange in
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 2 * widest * tiles.chunk)
            defer { scratch.deallocate() }
            for group in groupRange {
                for item in groups[group] {
                    backwardTile(tiles[item], plane: tiles.length, run, parameters: parameters,
                                 partial: (partials[group], first), accumulates: item != groups[group].lowerBound,
                                 scratch: (scratch, scratch + widest * tiles.chunk), ws)
                }
            }
        }
        partials.add(into: gradients + first)
        if run.lowerBound > 0 { ws.swapGradients() }
    }

    /// One tile's backward through `run`: its parameter gradients into `partial` (the parameters from
    /// offset `first` on; overwritten, or added to when `accumulates`), its input gradient into
    /// `ws.nextGradient` unless the run starts the network. `scratch`: two gradient tiles of the
    /// widest value.
    private func backwardTile(
        _ t: (image: Int, range: Range<Int>), plane: Int, _ run: Range<Int>, parameters: UnsafePointer<Float>,
        partial: (base: UnsafeMutablePointer<Float>, first: Int), accumulates: Bool,
        scratch: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>), _ ws: SequentialWorkspace
    ) {
        let (b, p0, n) = (t.image, t.range.lowerBound, t.range.count)
        var (g, spare) = scratch
        let last = ws.shapes[ws.outputValue[run.upperBound - 1]].channels
        let dy = ws.gradient.pointer + b * last * plane + p0
        for c in 0..<last { (g + c * n).update(from: dy + c * plane, count: n) }
        for l in run.reversed() {
            let ci = ws.shapes[ws.inputValue[l]].channels, co = ws.shapes[ws.outputValue[l]].channels
            let x = ws.values[ws.inputValue[l]].pointer + b * ci * plane + p0
            switch layers[l] {
            case .conv:
                let weight = parameters + weightOffsets[l]
                let dWeight = partial.base + (weightOffsets[l] - partial.first), dBias = dWeight + co * ci
                Gemm.sgemm(transB: true, m: co, n: ci, k: n, a: g, lda: n, b: x, ldb: plane,
                           beta: accumulates ? 1 : 0, c: dWeight, ldc: ci)
                for o in 0..<co { dBias[o] = (accumulates ? dBias[o] : 0) + FastMath.sum(g + o * n, count: n) }
                if l > 0 {
                    Gemm.sgemm(transA: true, m: ci, n: n, k: co, a: weight, lda: ci, b: g, ldb: n, c: spare, ldc: n)
                    swap(&g, &spare)
                }
            case .relu:
                let y = ws.values[ws.outputValue[l]].pointer + b * co * plane + p0
                for c in 0..<co { ReLU.maskGradient(g + c * n, y: y + c * plane, count: n) }
            case .gelu where ws.keepsGELUDerivative[l]:
                for c in 0..<co { GELU.scaleByKeptDerivative(g + c * n, derivative: x + c * plane, count: n) }
            case .gelu:
                for c in 0..<co { GELU.scaleByDerivative(g + c * n, x: x + c * plane, count: n) }
            case .convTranspose, .layerNorm2d:
                preconditionFailure("\(layers[l]) is not pointwise")
            }
        }
        if run.lowerBound > 0 {
            let channels = ws.shapes[ws.inputValue[run.lowerBound]].channels
            let dx = ws.nextGradient.pointer + b * channels * plane + p0
            for c in 0..<channels { (dx + c * plane).update(from: g + c * n, count: n) }
        }
    }
}

extension HeadLayer {
    /// 1x1 convolution, ReLU or GELU: each output pixel depends on the same input pixel only.
    var isPointwise: Bool {
        switch self {
        case let .conv(_, _, _, k): return k == 1
        case .relu, .gelu: return true
        case .convTranspose, .layerNorm2d: return false
        }
    }

    var isConvolution: Bool {
        if case .conv = self { return true }
        return false
    }

    /// Floats of the weight and bias.
    var parameterCount: Int { parameters.reduce(0) { $0 + $1.shape.reduce(1, *) } }
}
