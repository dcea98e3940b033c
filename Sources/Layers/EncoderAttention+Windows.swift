import Tensors

extension EncoderAttention {
    /// A token grid cut into windows: B images of H x W tokens, windows of S x S (`WindowPartition`).
    public struct Grid: Equatable, Sendable {
        public var images, height, width, window: Int

        public init(images: Int, height: Int, width: Int, window: Int) {
            (self.images, self.height, self.width, self.window) = (images, height, width, window)
        }

        public var tokens: Int { images * height * width }
        public var windows: Int {
            images * WindowPartition.windowsPerImage(height: height, width: width, window: window)
        }
    }

    /// Scratch of `forwardWindowed` in token layout: qkv (B H W, 3C), context (B H W, C).
    public struct TokenScratch {
        public var qkv, context: UnsafeMutablePointer<Float>

        public init(qkv: UnsafeMutablePointer<Float>, context: UnsafeMutablePointer<Float>) {
            (self.qkv, self.context) = (qkv, context)
        }
    }

    /// y (B, H, W, C) <- windowed attention of x (B, H, W, C): the values of partitioning x (zero
    /// padding), `forward` on the windows (`shape`: grid.windows windows of S x S) and unpartitioning,
    /// with the qkv and output projections on the B H W real tokens only. A padded token is zero, so
    /// its qkv row is exactly the qkv bias, which the partition of qkv writes; padded outputs are
    /// cropped, so their projection is never needed (ViT-B at 1024: 64 x 64 tokens in 25 windows of
    /// 14 x 14, 16 % fewer projection FLOPs). `saved` is in window layout as in `forward`.
    public static func forwardWindowed(
        y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, parameters p: Parameters, shape s: Shape,
        grid g: Grid, saved: Saved, scratch: TokenScratch
    ) {
        checkWindows(s, g)
        let c = s.channels
        Linear.forward(y: scratch.qkv, x: x, weight: p.qkvWeight, bfloat16: p.qkvWeightBF16, bias: p.qkvBias,
                       rows: g.tokens, inFeatures: c, outFeatures: 3 * c)
        WindowPartition.partition(windows: saved.qkv, tokens: scratch.qkv, batch: g.images, height: g.height,
                                  width: g.width, channels: 3 * c, window: g.window, padding: p.qkvBias)
        attend(parameters: p, shape: s, saved: saved)
        WindowPartition.unpartition(tokens: scratch.context, windows: saved.context, batch: g.images,
                                    height: g.height, width: g.width, channels: c, window: g.window)
        Linear.forward(y: y, x: scratch.context, weight: p.projWeight, bfloat16: p.projWeightBF16, bias: p.projBias,
                       rows: g.tokens, inFeatures: c, outFeatures: c)
    }

    static func checkWindows(_ s: Shape, _ g: Grid) {
        precondition(s.batch == g.windows && s.height == g.window && s.width == g.window,
                     "window shape \(s) does not cut grid \(g)")
    }
}
