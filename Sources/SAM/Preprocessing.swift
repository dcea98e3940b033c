import Layers
import Tensors

/// How images become encoder inputs (DESIGN §3.1). Both produce a (3, S, S) CHW tensor.
public enum Preprocessing {
    public enum Mode: String, Codable, CaseIterable, Sendable {
        /// AutoSAM's: the network input (the slice min-max scaled to [0, 1], then augmented in
        /// training, by `Augmenter`) replicated to 3 channels, resized to 224 x 224, then
        /// bilinearly to S x S, no pixel mean/std (the reference's AutoSamSeg input path).
        case reference
        /// SAM's own: 0-255 RGB, `ResizeLongestSide(S)`, (x - mean) / std per channel, zero padding
        /// at the bottom/right to S x S (`SamPredictor.set_image` + `Sam.preprocess`).
        case sam
    }

    /// SAM's `pixel_mean` and `pixel_std` (RGB, 0-255 scale).
    public static let pixelMean: [Float] = [123.675, 116.28, 103.53]
    public static let pixelStd: [Float] = [58.395, 57.12, 57.375]

    /// The side the reference resizes slices to before the encoder's interpolation.
    public static let referenceSliceSize = 224

    /// `reference` mode: the network input planes (C, H, W), C = 1 or 3, -> (3, S, S), taken as
    /// they are (the dataset already scaled them to [0, 1] before augmentation; no second
    /// normalisation, so augmented intensities reach the encoder unchanged): channel replication
    /// when C = 1, then `BilinearResize` (align_corners false, no antialias, as F.interpolate) to
    /// `sliceSize` (skipped when already that size) and to S.
    ///
    /// ref: AutoSAM @ 4f54845 `dataset/ACDC.py` (min-max first, fed as is) and @ 50a6ff4
    /// `AutoSamSeg.forward` (fixtures quirk 10).
    public static func reference(_ slice: Tensor, imageSize s: Int, sliceSize: Int = referenceSliceSize) -> Tensor {
        precondition(slice.rank == 3 && (slice.shape[0] == 1 || slice.shape[0] == 3),
                     "slice \(slice.shape), expected (1 or 3, H, W)")
        let (h, w) = (slice.shape[1], slice.shape[2])
        var planes = slice.shape[0] == 3 ? slice.data : slice.data + slice.data + slice.data
        var (ph, pw) = (h, w)
        for side in [sliceSize, s] where (ph, pw) != (side, side) {
            planes = bilinear(planes, height: ph, width: pw, to: side)
            (ph, pw) = (side, side)
        }
        return Tensor(shape: [3, s, s], data: planes)
    }

    /// `sam` mode: an H x W x 3 uint8 RGB image (HWC) -> (3, S, S) and the (h, w) of the resized
    /// image inside the padded square (`input_size`, needed to post-process masks).
    ///
    /// ref: segment_anything/predictor.py @ dca509f, `set_image` (lines 34-60);
    /// modeling/sam.py `preprocess` (lines 160-171): normalise first, then pad with zeros.
    public static func sam(image: [UInt8], height: Int, width: Int, imageSize s: Int)
        -> (image: Tensor, inputSize: (height: Int, width: Int)) {
        let resized = ResizeLongestSide.apply(image: image, height: height, width: width, longestSide: s)
        var out = Tensor(zeros: [3, s, s])
        for c in 0..<3 {
            let mean = pixelMean[c], inverseStd = 1 / pixelStd[c]
            for y in 0..<resized.height {
                for x in 0..<resized.width {
                    let value = Float(resized.image[(y * resized.width + x) * 3 + c])
                    out.data[(c * s + y) * s + x] = (value - mean) * inverseStd
                }
            }
        }
        return (out, (resized.height, resized.width))
    }

    private static func bilinear(_ planes: [Float], height h: Int, width w: Int, to side: Int) -> [Float] {
        var out = [Float](repeating: 0, count: 3 * side * side)
        planes.withUnsafeBufferPointer { x in
            out.withUnsafeMutableBufferPointer { y in
                BilinearResize.forward(y: y.baseAddress!, x: x.baseAddress!, planes: 3, height: h, width: w,
                                       outHeight: side, outWidth: side)
            }
        }
        return out
    }
}
