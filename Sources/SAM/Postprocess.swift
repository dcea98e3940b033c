import Layers
import Tensors

/// SAM's geometry around the model: `ResizeLongestSide` for prompt coordinates and
/// `Sam.postprocess_masks` for the predicted masks.
/// ref: segment_anything/utils/transforms.py @ dca509f (`apply_coords`, `apply_boxes`,
/// `get_preprocess_shape`) and segment_anything/modeling/sam.py @ dca509f
/// (`Sam.postprocess_masks`).
public enum Postprocess {
    /// SAM's mask threshold on logits.
    public static let maskThreshold: Float = 0

    /// `get_preprocess_shape`: the size after scaling the longer side to `longestSide`,
    /// `int(side * scale + 0.5)` in double precision.
    public static func resizedSize(height: Int, width: Int, longestSide: Int) -> (height: Int, width: Int) {
        let scale = Double(longestSide) / Double(max(height, width))
        return (Int(Double(height) * scale + 0.5), Int(Double(width) * scale + 0.5))
    }

    /// `apply_coords`: (x, y) pairs in the original image -> the resized input frame (x scaled by
    /// new_w / old_w, y by new_h / old_h, in double precision like the numpy reference).
    public static func applyCoordinates(_ xy: [Float], originalSize: (height: Int, width: Int),
                                        longestSide: Int) -> [Float] {
        precondition(xy.count % 2 == 0, "coordinates come in (x, y) pairs")
        let new = resizedSize(height: originalSize.height, width: originalSize.width, longestSide: longestSide)
        let sx = Double(new.width) / Double(originalSize.width), sy = Double(new.height) / Double(originalSize.height)
        return xy.enumerated().map { i, v in Float(Double(v) * (i % 2 == 0 ? sx : sy)) }
    }

    /// `apply_boxes`: boxes (n, 4) as (x0, y0, x1, y1), both corners through `applyCoordinates`.
    public static func applyBoxes(_ boxes: [Float], originalSize: (height: Int, width: Int),
                                  longestSide: Int) -> [Float] {
        precondition(boxes.count % 4 == 0, "boxes come as (x0, y0, x1, y1)")
        return applyCoordinates(boxes, originalSize: originalSize, longestSide: longestSide)
    }

    /// `postprocess_masks`: low-res logits (B, M, h, w) -> bilinear to (imageSize, imageSize) ->
    /// crop to the unpadded input size -> bilinear to the original size; (B, M, H0, W0) logits.
    /// Bilinear is `F.interpolate(align_corners=False)` without antialias (`BilinearResize`).
    public static func masks(_ lowRes: Tensor, imageSize: Int, inputSize: (height: Int, width: Int),
                             originalSize: (height: Int, width: Int)) -> Tensor {
        precondition(lowRes.rank == 4 && inputSize.height <= imageSize && inputSize.width <= imageSize,
                     "bad mask post-processing sizes")
        let planes = lowRes.shape[0] * lowRes.shape[1]
        let full = resize(lowRes.data, planes: planes, from: (lowRes.shape[2], lowRes.shape[3]),
                          to: (imageSize, imageSize))
        var cropped = [Float]()
        cropped.reserveCapacity(planes * inputSize.height * inputSize.width)
        for plane in 0..<planes {
            for row in 0..<inputSize.height {
                let start = (plane * imageSize + row) * imageSize
                cropped += full[start ..< start + inputSize.width]
            }
        }
        let out = resize(cropped, planes: planes, from: inputSize, to: originalSize)
        return Tensor(shape: [lowRes.shape[0], lowRes.shape[1], originalSize.height, originalSize.width], data: out)
    }

    /// `masks > maskThreshold` as 0 / 1 bytes, same layout as the logits.
    public static func binarize(_ logits: Tensor, threshold: Float = maskThreshold) -> [UInt8] {
        logits.data.map { $0 > threshold ? 1 : 0 }
    }

    private static func resize(_ x: [Float], planes: Int, from: (Int, Int), to: (Int, Int)) -> [Float] {
        var y = [Float](repeating: 0, count: planes * to.0 * to.1)
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
                BilinearResize.forward(y: yp.baseAddress!, x: xp.baseAddress!, planes: planes, height: from.0,
                                       width: from.1, outHeight: to.0, outWidth: to.1)
            }
        }
        return y
    }
}
