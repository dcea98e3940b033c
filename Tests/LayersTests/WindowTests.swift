import XCTest
import Tensors
import TestSupport
import Layers

/// Runs a pointer kernel on copies of `inputs` and returns the buffers it wrote: one tensor per
/// entry of `outputs`, each starting from the given tensor (zeros for a fresh output, or a
/// pre-filled gradient to check that backward accumulates). Shared by the spatial layer tests.
func runKernel(
    _ inputs: [Tensor], outputs: [Tensor],
    _ body: ([UnsafePointer<Float>], [UnsafeMutablePointer<Float>]) -> Void
) -> [Tensor] {
    func copy(_ t: Tensor) -> UnsafeMutablePointer<Float> {
        let p = UnsafeMutablePointer<Float>.allocate(capacity: max(t.count, 1))
        t.withPointer { p.initialize(from: $0, count: t.count) }
        return p
    }
    let ins = inputs.map(copy), outs = outputs.map(copy)
    defer { (ins + outs).forEach { $0.deallocate() } }
    body(ins.map { UnsafePointer($0) }, outs)
    return zip(outputs, outs).map { t, p in
        Tensor(shape: t.shape, data: Array(UnsafeBufferPointer(start: p, count: t.count)))
    }
}

final class WindowTests: XCTestCase {
    struct Grid { var b, h, w, c, s: Int }
    let grids = [Grid(b: 2, h: 5, w: 7, c: 3, s: 3), Grid(b: 1, h: 2, w: 1, c: 2, s: 3),
                 Grid(b: 1, h: 6, w: 3, c: 1, s: 3), Grid(b: 3, h: 4, w: 5, c: 2, s: 1),
                 Grid(b: 1, h: 1, w: 1, c: 4, s: 2)]

    func windowShape(_ g: Grid) -> [Int] {
        [g.b * WindowPartition.windowsPerImage(height: g.h, width: g.w, window: g.s), g.s, g.s, g.c]
    }

    func partition(_ g: Grid, _ x: Tensor) -> Tensor {
        runKernel([x], outputs: [Tensor(repeating: .nan, shape: windowShape(g))]) { i, o in
            WindowPartition.partition(windows: o[0], tokens: i[0], batch: g.b, height: g.h, width: g.w, channels: g.c,
                                      window: g.s)
        }[0]
    }

    func unpartition(_ g: Grid, _ windows: Tensor) -> Tensor {
        runKernel([windows], outputs: [Tensor(repeating: .nan, shape: [g.b, g.h, g.w, g.c])]) { i, o in
            WindowPartition.unpartition(tokens: o[0], windows: i[0], batch: g.b, height: g.h, width: g.w,
                                        channels: g.c, window: g.s)
        }[0]
    }

    /// SAM's pad + view + permute(0, 1, 3, 2, 4, 5) written out index by index.
    func testPartitionMatchesIndexFormula() {
        for g in grids {
            let x = randomTensor([g.b, g.h, g.w, g.c], seed: 1)
            let windows = partition(g, x)
            let nWh = (g.h + g.s - 1) / g.s, nWw = (g.w + g.s - 1) / g.s
            XCTAssertEqual(windows.shape[0], g.b * nWh * nWw)
            for n in 0..<windows.shape[0] {
                let image = n / (nWh * nWw), wh = n / nWw % nWh, ww = n % nWw
                for i in 0..<g.s { for j in 0..<g.s { for ch in 0..<g.c {
                    let y = wh * g.s + i, xx = ww * g.s + j
                    let expected: Float = y < g.h && xx < g.w ? x[image, y, xx, ch] : 0
                    XCTAssertEqual(windows[n, i, j, ch], expected, "grid \(g) window \(n) (\(i), \(j), \(ch))")
                } } }
            }
        }
    }

    func testUnpartitionInvertsPartition() {
        for g in grids {
            let x = randomTensor([g.b, g.h, g.w, g.c], seed: 2)
            XCTAssertEqual(unpartition(g, partition(g, x)), x, "grid \(g)")
        }
    }

    func testPartitionGradient() {
        for g in grids {
            GradientCheck().verify("partition \(g)", inputs: [randomTensor([g.b, g.h, g.w, g.c], seed: 3)],
                forward: { [partition(g, $0[0])] },
                backward: { xs, dys in
                    runKernel([dys[0]], outputs: [Tensor(zeros: xs[0].shape)]) { i, o in
                        WindowPartition.partitionBackward(dTokens: o[0], dWindows: i[0], batch: g.b, height: g.h,
                                                          width: g.w, channels: g.c, window: g.s)
                    }
                })
        }
    }

    func testUnpartitionGradient() {
        for g in grids {
            GradientCheck().verify("unpartition \(g)", inputs: [randomTensor(windowShape(g), seed: 4)],
                forward: { [unpartition(g, $0[0])] },
                backward: { xs, dys in
                    runKernel([dys[0]], outputs: [Tensor(zeros: xs[0].shape)]) { i, o in
                        WindowPartition.unpartitionBackward(dWindows: o[0], dTokens: i[0], batch: g.b, height: g.h,
                                                            width: g.w, channels: g.c, window: g.s)
                    }
                })
        }
    }

    func testBackwardsAccumulate() {
        let g = grids[0]
        let dWindows = randomTensor(windowShape(g), seed: 5), dTokens = randomTensor([g.b, g.h, g.w, g.c], seed: 6)
        let got = runKernel([dWindows, dTokens], outputs: [Tensor(repeating: 1, shape: dTokens.shape),
                                                           Tensor(repeating: 1, shape: dWindows.shape)]) { i, o in
            WindowPartition.partitionBackward(dTokens: o[0], dWindows: i[0], batch: g.b, height: g.h, width: g.w,
                                              channels: g.c, window: g.s)
            WindowPartition.unpartitionBackward(dWindows: o[1], dTokens: i[1], batch: g.b, height: g.h, width: g.w,
                                                channels: g.c, window: g.s)
        }
        XCTAssertEqual(got[0].data, unpartition(g, dWindows).data.map { $0 + 1 })
        XCTAssertEqual(got[1].data, partition(g, dTokens).data.map { $0 + 1 })
    }
}
