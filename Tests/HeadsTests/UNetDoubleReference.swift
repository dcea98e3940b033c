import Heads
import Layers

/// A plain Double-precision twin of `UNet.forward` for finite differences: every op as the
/// obvious loop over NCHW arrays, walking the same `units` graph and reading parameters through
/// the same `layout` names. Instance norm uses `InstanceNorm2d.defaultEps` (widened to Double),
/// max-pool ties go to the first element in row-major window order, as in the Float layers.
///
/// Shapes: B batch, C channels, H x W grid; a value is (B, C, H, W) flattened row-major.
struct UNetDoubleReference {
    struct Value {
        var channels: Int, height: Int, width: Int
        var data: [Double]
    }

    let net: UNet

    /// logits (B, K, H, W) <- images (B, C, H, W); `parameters` has `net.layout`.
    func forward(_ images: [Double], shape: [Int], parameters p: [Double]) -> [Double] {
        let b = shape[0]
        var values = [Value(channels: shape[1], height: shape[2], width: shape[3], data: images)]
        for unit in net.units {
            let x = values[unit.inputs[0]]
            func at(_ name: String) -> Int { net.layout.entry(name)!.offset }
            switch unit.op {
            case let .convNormReLU(name, _, o):
                let pre = Self.conv(x, batch: b, p, weight: at(name + ".conv.weight"), bias: nil, out: o, kernel: 3)
                var y = Self.instanceNorm(pre, batch: b, p, weight: at(name + ".norm.weight"),
                                          bias: at(name + ".norm.bias"))
                y.data = y.data.map { max($0, 0) }
                values.append(y)
            case .maxPool:
                values.append(Self.maxPool(x, batch: b))
            case let .upConv(name, _, o):
                values.append(Self.upConv(x, batch: b, p, weight: at(name + ".weight"), bias: at(name + ".bias"),
                                          out: o))
            case .concat:
                values.append(Self.concat(x, values[unit.inputs[1]], batch: b))
            case let .classifier(name, _, o):
                values.append(Self.conv(x, batch: b, p, weight: at(name + ".weight"), bias: at(name + ".bias"), out: o,
                                        kernel: 1))
            }
        }
        return values.last!.data
    }

    /// Square kernel k (odd), stride 1, zero padding (k - 1) / 2; weight (O, I, k, k) at `weight`.
    static func conv(_ x: Value, batch: Int, _ p: [Double], weight: Int, bias: Int?, out o: Int,
                     kernel k: Int) -> Value {
        let (ci, h, w, pad) = (x.channels, x.height, x.width, (k - 1) / 2)
        var y = Value(channels: o, height: h, width: w, data: [Double](repeating: 0, count: batch * o * h * w))
        for n in 0..<batch { for oc in 0..<o { for i in 0..<h { for j in 0..<w {
            var acc = bias.map { p[$0 + oc] } ?? 0
            for ic in 0..<ci { for ki in 0..<k { for kj in 0..<k {
                let (r, c) = (i + ki - pad, j + kj - pad)
                guard r >= 0, r < h, c >= 0, c < w else { continue }
                acc += p[weight + ((oc * ci + ic) * k + ki) * k + kj] * x.data[((n * ci + ic) * h + r) * w + c]
            } } }
            y.data[((n * o + oc) * h + i) * w + j] = acc
        } } } }
        return y
    }

    /// Per (b, c) plane: `weight[c] (x - mean) / sqrt(biased variance + eps) + bias[c]`.
    static func instanceNorm(_ x: Value, batch: Int, _ p: [Double], weight: Int, bias: Int) -> Value {
        let pixels = x.height * x.width, eps = Double(InstanceNorm2d.defaultEps)
        var y = x
        for plane in 0..<batch * x.channels {
            let values = x.data[plane * pixels ..< (plane + 1) * pixels]
            let mean = values.reduce(0, +) / Double(pixels)
            let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(pixels)
            let c = plane % x.channels, scale = p[weight + c] / (variance + eps).squareRoot()
            for q in values.indices { y.data[q] = (x.data[q] - mean) * scale + p[bias + c] }
        }
        return y
    }

    /// 2 x 2 windows, stride 2; the first maximum in row-major window order wins.
    static func maxPool(_ x: Value, batch: Int) -> Value {
        let (h, w) = (x.height / 2, x.width / 2)
        var y = Value(channels: x.channels, height: h, width: w, data: [])
        for plane in 0..<batch * x.channels { for i in 0..<h { for j in 0..<w {
            let window = [(0, 0), (0, 1), (1, 0), (1, 1)].map {
                x.data[(plane * x.height + 2 * i + $0.0) * x.width + 2 * j + $0.1]
            }
            y.data.append(window.dropFirst().reduce(window[0]) { $1 > $0 ? $1 : $0 })
        } } }
        return y
    }

    /// `y[b, o, 2h + di, 2w + dj] = bias[o] + sum_i x[b, i, h, w] weight[i, o, di, dj]`; weight (I, O, 2, 2).
    static func upConv(_ x: Value, batch: Int, _ p: [Double], weight: Int, bias: Int, out o: Int) -> Value {
        let (ci, h, w) = (x.channels, x.height, x.width)
        var y = Value(channels: o, height: 2 * h, width: 2 * w,
                      data: [Double](repeating: 0, count: batch * o * 4 * h * w))
        for n in 0..<batch { for oc in 0..<o { for r in 0..<2 * h { for c in 0..<2 * w {
            var acc = p[bias + oc]
            for ic in 0..<ci {
                acc += x.data[((n * ci + ic) * h + r / 2) * w + c / 2]
                    * p[weight + ((ic * o + oc) * 2 + r % 2) * 2 + c % 2]
            }
            y.data[((n * o + oc) * 2 * h + r) * 2 * w + c] = acc
        } } } }
        return y
    }

    /// `[a; b]` along the channels of every image.
    static func concat(_ a: Value, _ b: Value, batch: Int) -> Value {
        let (sizeA, sizeB) = (a.channels * a.height * a.width, b.channels * b.height * b.width)
        var y = Value(channels: a.channels + b.channels, height: a.height, width: a.width, data: [])
        for n in 0..<batch {
            y.data += a.data[n * sizeA ..< (n + 1) * sizeA]
            y.data += b.data[n * sizeB ..< (n + 1) * sizeB]
        }
        return y
    }
}
