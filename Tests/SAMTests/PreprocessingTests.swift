import XCTest
import TensorFiles
import Layers
import Tensors
import TestSupport
@testable import SAM

final class PreprocessingTests: XCTestCase {
    /// The fixture's raw image, its size and the target side (taken from `preprocessed`).
    func rawImage() throws -> (file: SafeTensorsFile, image: [UInt8], height: Int, width: Int, side: Int) {
        let f = try Fixtures.file("preprocess")
        let shape = try f.info("raw_image_u8").shape
        let image = try f.integers("raw_image_u8").map { UInt8($0) }
        return (f, image, shape[0], shape[1], try f.info("preprocessed").shape[3])
    }

    func testOutputShapeMatchesInputSize() throws {
        let raw = try rawImage()
        let expected = try raw.file.integers("input_size")
        let shape = ResizeLongestSide.outputShape(height: raw.height, width: raw.width, longestSide: raw.side)
        XCTAssertEqual([shape.height, shape.width], expected)
        XCTAssertEqual(try raw.file.integers("original_size"), [raw.height, raw.width])
    }

    /// The float antialiased resize against `F.interpolate(antialias=True)` on the same input: equal up
    /// to float rounding (observed 3e-5 on values up to 255, i.e. two ulp).
    func testAntialiasedResizeMatchesPyTorch() throws {
        let raw = try rawImage()
        let expected = try raw.file.tensor("resize_float_antialias")
        let (oh, ow) = (expected.shape[2], expected.shape[3])
        var planes = [Float](repeating: 0, count: 3 * raw.height * raw.width)
        for i in 0..<raw.height * raw.width {
            for c in 0..<3 { planes[c * raw.height * raw.width + i] = Float(raw.image[i * 3 + c]) }
        }
        var out = [Float](repeating: .nan, count: 3 * oh * ow)
        AntialiasedResize.forward(y: &out, x: planes, planes: 3, height: raw.height, width: raw.width, outHeight: oh,
                                  outWidth: ow)
        assertClose(out, expected.data, atol: 1e-4, rtol: 0, "resize_float_antialias")
    }

    /// `ResizeLongestSide.apply` against the PIL uint8 result: within one level (float vs 8-bit fixed point).
    func testResizeLongestSideMatchesPILWithinOneLevel() throws {
        let raw = try rawImage()
        let resized = ResizeLongestSide.apply(image: raw.image, height: raw.height, width: raw.width,
                                              longestSide: raw.side)
        let expected = try raw.file.integers("resized_u8").map(Float.init)
        XCTAssertEqual([resized.height, resized.width, 3], try raw.file.info("resized_u8").shape)
        assertClose(resized.image.map(Float.init), expected, atol: 1, rtol: 0, "resized_u8")
    }

    func testSamModeMatchesPreprocessed() throws {
        let raw = try rawImage()
        let (image, inputSize) = Preprocessing.sam(image: raw.image, height: raw.height, width: raw.width,
                                                   imageSize: raw.side)
        XCTAssertEqual([inputSize.height, inputSize.width], try raw.file.integers("input_size"))
        let expected = try raw.file.tensor("preprocessed")
        XCTAssertEqual([1] + image.shape, expected.shape)
        assertClose(image.data, expected.data, atol: 0.02, rtol: 0, "preprocessed")
        XCTAssertEqual(try raw.file.tensor("pixel_mean").data, Preprocessing.pixelMean)
        XCTAssertEqual(try raw.file.tensor("pixel_std").data, Preprocessing.pixelStd)
        // Padding after normalisation: exactly zero outside the resized image.
        let s = raw.side
        for y in 0..<s { for x in 0..<s where y >= inputSize.height || x >= inputSize.width {
            XCTAssertEqual(image.data[(2 * s + y) * s + x], 0)
        } }
    }

    func testAntialiasedResizeKeepsConstantsAndIdentity() {
        let x = randomTensor([2, 5, 7], seed: 3)
        var same = [Float](repeating: .nan, count: x.count)
        AntialiasedResize.forward(y: &same, x: x.data, planes: 2, height: 5, width: 7, outHeight: 5, outWidth: 7)
        assertClose(same, x.data, atol: 1e-6, rtol: 0, "identity")
        for (oh, ow) in [(2, 3), (1, 1), (11, 4), (13, 17)] {
            var y = [Float](repeating: .nan, count: oh * ow)
            AntialiasedResize.forward(y: &y, x: [Float](repeating: 4.5, count: 35), planes: 1, height: 5, width: 7,
                                      outHeight: oh, outWidth: ow)
            assertClose(y, [Float](repeating: 4.5, count: oh * ow), atol: 1e-5, rtol: 0, "constant \(oh)x\(ow)")
        }
    }

    /// `reference` mode equals the naive bilinear twin, twice, of the input as it is: the network
    /// input was scaled to [0, 1] (and maybe augmented) before, and is never normalised again.
    func testReferenceModeMatchesNaiveComposition() {
        let (h, w, slice, s) = (9, 6, 5, 12)
        let x = randomTensor([1, h, w], seed: 11, scale: 40)
        let out = Preprocessing.reference(x, imageSize: s, sliceSize: slice)
        XCTAssertEqual(out.shape, [3, s, s])
        let mid = NaiveElementwise.bilinearResize(x.data, planes: 1, height: h, width: w, outHeight: slice,
                                                  outWidth: slice)
        let plane = NaiveElementwise.bilinearResize(mid, planes: 1, height: slice, width: slice, outHeight: s,
                                                    outWidth: s)
        assertClose(out.data, plane + plane + plane, atol: 1e-4, rtol: 1e-5, "reference")
    }

    /// A brightness shift of the network input reaches the encoder unchanged (no re-normalisation).
    func testReferenceModeKeepsAnAugmentedShift() {
        let x = randomTensor([1, 6, 6], seed: 12, scale: 0.5)
        let shifted = Tensor(shape: x.shape, data: x.data.map { $0 + 1 })
        let (a, b) = (Preprocessing.reference(x, imageSize: 8, sliceSize: 6),
                      Preprocessing.reference(shifted, imageSize: 8, sliceSize: 6))
        assertClose(b.data, a.data.map { $0 + 1 }, atol: 1e-5, rtol: 0, "the +1 shift survives")
        let constant = Preprocessing.reference(Tensor(repeating: 7, shape: [3, 4, 4]), imageSize: 8, sliceSize: 4)
        XCTAssertEqual(Set(constant.data), [7])
    }
}
