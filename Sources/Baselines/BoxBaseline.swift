import TensorFiles
import Config
import Datasets
import Embeddings
import Evaluation
import Foundation
import Metrics
import Runs
import SAM
import Tensors
import Training


/// What the box baseline produced on a slice set: label maps (D, H, W) and scores per volume.
public struct BoxBaselineResult {
    public let volumes: [Volume]
    public let predictions: [[UInt8]]
    public let scores: [VolumeScores]
    public let summary: ScoreSummary
}

/// The paper's zero-shot SAM baseline (issue 8 item 3; ref: AutoSAM scripts/inference.py @
/// 50a6ff4, `get_box`, `get_mask`): per slice, the SAM image embedding once; per class present in
/// the ground-truth slice, its `BoxPrompt` box mapped by `apply_boxes` to the input frame, the
/// original SAM mask decoder with `multimask_output=false`, the mask resized to the slice and
/// binarised (logits > 0); the class masks merged as the reference does (`merge`). No training.
public final class BoxBaseline {
    public let imageEncoder: ImageEncoder
    public let promptEncoder: PromptEncoder
    public let maskDecoder: MaskDecoder
    public let inputPath: BoxInputPath
    private let workspace: ImageEncoderWorkspace

    /// Loads the three SAM parts from one full checkpoint. `decoderHeads` is the two-way
    /// transformer's head count (8 in every SAM release; not visible in the weights' shapes).
    /// `precision` as `encoder.precision` (bf16 throws `EncoderPrecisionError` where unsupported).
    public init(checkpoint: URL, inputPath: BoxInputPath, decoderHeads: Int = 8,
                precision: EncoderPrecision = .fp32) throws {
        let archive = try TensorArchives.open(checkpoint)
        imageEncoder = try ImageEncoder(weights: ImageEncoderWeights.load(from: archive), precision: precision)
        promptEncoder = try PromptEncoder(loading: archive)
        maskDecoder = try MaskDecoder(loading: archive, heads: decoderHeads)
        self.inputPath = inputPath
        workspace = ImageEncoderWorkspace(config: imageEncoder.config, batch: 1)
    }

    /// From a config's `encoder.checkpoint`, which must name a full SAM checkpoint: random
    /// weights (an empty checkpoint) make no sense for a zero-shot baseline.
    /// `decoderHeads` defaults to the config's `encoder.decoder_heads`.
    public convenience init(config: ExperimentConfig, inputPath: BoxInputPath, decoderHeads: Int? = nil) throws {
        guard !config.encoder.checkpoint.isEmpty else {
            throw ConfigError(source: "config",
                              message: "the box baseline needs a full SAM checkpoint (encoder.checkpoint); "
                              + "random encoder weights are not SAM")
        }
        let url = URL(fileURLWithPath: config.encoder.checkpoint)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw ConfigError(source: "config", message: "encoder.checkpoint \(url.path) does not exist")
        }
        do {
            try self.init(checkpoint: url, inputPath: inputPath,
                          decoderHeads: decoderHeads ?? config.encoder.decoder_heads,
                          precision: EncoderPrecision(rawValue: config.encoder.precision.rawValue)!)
        } catch let error as EncoderPrecisionError {
            throw ConfigError(source: "encoder.precision", message: error.description)
        }
    }

    /// Merges binary class masks (fixtures quirk 14). `masks[k]` (H*W, 0/1) for class k in
    /// 1..<K, nil when the class got no prompt; index 0 is ignored. mask[0] = -sum_k m_k, the
    /// background becomes 1 where mask[0] == 0 and 0 where negative, then argmax over classes
    /// with ties to the lowest class index.
    public static func merge(_ masks: [[UInt8]?], pixels: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: pixels)
        for i in 0..<pixels {
            // Background is 1 only where no class covers i, and every class value is 0 or 1, so
            // the argmax is 0 there and otherwise the lowest covering class.
            for k in 1..<masks.count where masks[k].map({ $0[i] != 0 }) ?? false {
                out[i] = UInt8(k)
                break
            }
        }
        return out
    }

    /// A box (x0, y0, x1, y1) of an H x W slice in the frame of the encoder's S x S input. The
    /// reference path stretches the slice to S x S (its slices are square, 224 x 224, so the
    /// reference's `apply_boxes` scaling by S / 224 is this stretch), so the box is scaled by
    /// S / W in x and S / H in y; SAM's own path keeps the aspect ratio (`apply_boxes`).
    func promptFrame(_ box: [Float], height: Int, width: Int) -> [Float] {
        let s = imageEncoder.config.imageSize
        switch inputPath {
        case .reference:
            let (sx, sy) = (Float(s) / Float(width), Float(s) / Float(height))
            return [box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy]
        case .corrected:
            return Postprocess.applyBoxes(box, originalSize: (height, width), longestSide: s)
        }
    }

    /// The encoder input (1, 3, S, S) of an H x W slice and the unpadded input size for mask
    /// post-processing.
    func encoderInput(_ slice: ArraySlice<Float>, height: Int, width: Int) -> (Tensor, (height: Int, width: Int)) {
        let s = imageEncoder.config.imageSize
        let image = Tensor(shape: [1, height, width], data: Array(slice))
        switch inputPath {
        case .reference:
            var x = Preprocessing.reference(Tensor(shape: [1, height, width], data: UnitRange.scaled(slice)),
                                            imageSize: s, sliceSize: s)
            let plane = s * s
            for c in 0..<3 {
                let mean = Preprocessing.pixelMean[c], inverseStd = 1 / Preprocessing.pixelStd[c]
                for i in c * plane ..< (c + 1) * plane { x.data[i] = (x.data[i] - mean) * inverseStd }
            }
            return (x.reshaped([1, 3, s, s]), (s, s))
        case .corrected:
            let (x, inputSize) = Preprocessing.sam(image: SAMSliceEncoder.rgbBytes(image), height: height, width: width,
                                                   imageSize: s)
            return (x.reshaped([1, 3, s, s]), inputSize)
        }
    }

    /// The label map (H*W) of one slice from its intensities and ground-truth labels.
    public func predictSlice(image: ArraySlice<Float>, labels: ArraySlice<UInt8>, height: Int, width: Int,
                             classes: Int) throws -> [UInt8] {
        let label = labels.map(Int.init)
        let present = (1..<classes).filter { c in label.contains(c) }
        guard !present.isEmpty else { return [UInt8](repeating: 0, count: height * width) }
        let (input, inputSize) = encoderInput(image, height: height, width: width)
        let embedding = imageEncoder.forward(input, workspace: workspace)
        let pe = promptEncoder.densePositionalEncoding(), s = imageEncoder.config.imageSize
        var masks = [[UInt8]?](repeating: nil, count: classes)
        for c in present {
            let box = try BoxPrompt.box(label: label, height: height, width: width, classValue: c).map(Float.init)
            let frame = promptFrame(box, height: height, width: width)
            let (sparse, dense) = promptEncoder.embed(points: nil, boxes: Tensor(shape: [1, 4], data: frame),
                                                      masks: nil)
            let lowRes = maskDecoder.predict(imageEmbedding: embedding, imagePE: pe, sparsePrompts: sparse,
                                             densePrompts: dense, multimaskOutput: false).masks
            let logits = Postprocess.masks(lowRes, imageSize: s, inputSize: inputSize, originalSize: (height, width))
            masks[c] = Postprocess.binarize(logits)
        }
        return Self.merge(masks, pixels: height * width)
    }

    /// The label map (D, H, W) of a labelled volume.
    public func predictVolume(_ volume: Volume, classes: Int) throws -> [UInt8] {
        guard let labels = volume.labels else {
            throw RunFileError(path: volume.imageFile,
                               message: "the box baseline needs ground-truth labels for its prompts")
        }
        let size = volume.sliceSize
        var out: [UInt8] = []
        out.reserveCapacity(volume.depth * size)
        for z in 0..<volume.depth {
            let range = z * size ..< (z + 1) * size
            do {
                out += try predictSlice(image: volume.image[range], labels: labels[range], height: volume.height,
                                        width: volume.width, classes: classes)
            } catch let error as BoxPromptError {
                throw RunFileError(path: volume.imageFile, message: "slice \(z): \(error)")
            }
        }
        return out
    }

    /// Single-process: predicts and scores the first `maxVolumes` volumes of `set` (all when nil).
    /// Runs use `Experiment.runBoxBaseline`, which shards the volumes over ranks.
    public func run(_ set: SliceSet, classes: Int, maxVolumes: Int? = nil,
                    progress: (Volume) -> Void = { _ in }) throws -> BoxBaselineResult {
        let volumes = Array(set.volumes.prefix(maxVolumes ?? set.volumes.count))
        var predictions: [[UInt8]] = [], scores: [VolumeScores] = []
        for volume in volumes {
            progress(volume)
            let prediction = try predictVolume(volume, classes: classes)      // throws without labels
            predictions.append(prediction)
            scores.append(volume.scores(of: prediction, classes: classes)!)
        }
        let names = ExperimentConfig.defaultClassNames(classes)
        let summary = ScoreSummary(volumes: scores, classNames: names, mode: .standard)
        return BoxBaselineResult(volumes: volumes, predictions: predictions, scores: scores, summary: summary)
    }
}
