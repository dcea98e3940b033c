import Datasets
import Foundation
import TestSupport
import XCTest
@testable import Baselines
@testable import Config
@testable import Embeddings
@testable import Evaluation
@testable import Experiments
@testable import Runs
@testable import Training

final class PredictionTests: XCTestCase {
    private var run: URL { TinyRun.shared.folder }
    private var config: ExperimentConfig { TinyRun.shared.config }

    private func temporaryFolder() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("predict-\(UUID().uuidString)")
    }

    /// The test volumes of the split of `run` (their images, as `predict` would be given them).
    private func testImages(of run: URL? = nil) throws -> [URL] {
        let split = try SplitPlan.read((run ?? self.run).appendingPathComponent("split.json")).fold(0)
        let index = try DatasetIndex.scan(URL(fileURLWithPath: config.data.root))
        return index.volumes(of: split.test).map { source -> URL in
            guard case let .nifti(image, _) = source.storage else { preconditionFailure("phantom data is NIfTI") }
            return image
        }
    }

    func testPredictingTheTestVolumesReproducesTheRunsOwnPredictions() throws {
        let out = temporaryFolder()
        let images = try testImages()
        XCTAssertFalse(images.isEmpty)
        let written = try RunPrediction(run: run).predict(images, to: out, encoderFactory: TinyRun.encoderFactory)
        XCTAssertEqual(written.map(\.lastPathComponent),
                       images.map { NIfTIStack.stem($0.lastPathComponent)! + ".nii.gz" })
        var foreground = 0
        for (image, mask) in zip(images, written) {
            let predicted = try NIfTIImage(contentsOf: mask)
            let fromTraining = try NIfTIImage(contentsOf: run.appendingPathComponent("seed_0/predictions/"
                                                                                    + mask.lastPathComponent))
            XCTAssertEqual(predicted.data, fromTraining.data,
                           "\(mask.lastPathComponent) differs from the run's test prediction")
            let input = try NIfTIImage(contentsOf: image)
            XCTAssertEqual(predicted.shape, input.shape)
            XCTAssertEqual(predicted.header.affine, input.header.affine)
            XCTAssertEqual(predicted.header.datatype, .uint8)
            XCTAssertTrue(predicted.data.allSatisfy {
                $0 >= 0 && $0 < Float(config.data.classes) && $0 == $0.rounded()
            })
            foreground += predicted.data.filter { $0 > 0 }.count
        }
        XCTAssertGreaterThan(foreground, 0,
                             "the trained head predicts background only: the comparison would be vacuous")
    }

    /// Issue 13 item 6: with the default fp16 cache, training's test phase reads full-precision
    /// embeddings (fp32 cache entries) as `predict` computes them, so one trained model gives one
    /// answer: `predict` on the run's test volumes writes the run's own test predictions exactly.
    func testWithAnFp16CachePredictingTheTestVolumesReproducesTheRunsOwnPredictions() throws {
        var fp16 = TinyRun.config(in: temporaryFolder())
        fp16.data.root = config.data.root
        fp16.cache.dtype = .fp16
        let folder = try TinyRun.train(fp16)
        let images = try testImages(of: folder)
        let written = try RunPrediction(run: folder).predict(images, to: temporaryFolder(),
                                                             encoderFactory: TinyRun.encoderFactory)
        var foreground = 0
        for mask in written {
            let predicted = try NIfTIImage(contentsOf: mask).data
            let fromTraining = try NIfTIImage(contentsOf: folder.appendingPathComponent("seed_0/predictions/"
                                                                                       + mask.lastPathComponent)).data
            XCTAssertEqual(predicted.count, fromTraining.count)
            XCTAssertEqual(zip(predicted, fromTraining).filter { $0 != $1 }.count, 0,
                           "voxels of \(mask.lastPathComponent) that differ")
            foreground += predicted.filter { $0 > 0 }.count
        }
        XCTAssertEqual(written.count, images.count)
        XCTAssertGreaterThan(foreground, 0,
                             "the trained head predicts background only: the comparison would be vacuous")
    }

    func testOutputCarriesAnObliqueInputsHeaderAndAffine() throws {
        let source = try NIfTIImage(contentsOf: try testImages()[0])
        var header = source.header
        header.srow = [[0, -1.4, 0.1, 12.5], [1.3, 0, 0, -40], [0, 0.2, 9.5, 7]]
        header.qformCode = 0
        header.descrip = "oblique test volume"
        let folder = temporaryFolder()
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let input = folder.appendingPathComponent("oblique.nii")
        try NIfTIImage(header: header, data: source.data).write(to: input)
        let out = folder.appendingPathComponent("out")
        let written = try RunPrediction(run: run).predict(try RunPrediction.inputs(folder), to: out,
                                                          encoderFactory: TinyRun.encoderFactory)
        XCTAssertEqual(written, [out.appendingPathComponent("oblique.nii.gz")])
        let mask = try NIfTIImage(contentsOf: written[0])
        XCTAssertEqual(mask.shape, source.shape)
        XCTAssertEqual(mask.header.affine, header.affine)
        XCTAssertEqual(mask.header.pixdim, header.pixdim)
        XCTAssertEqual(mask.header.descrip, "oblique test volume")
    }

    func testCheckpointChoice() throws {
        let newest = try RunPrediction(run: run)
        XCTAssertEqual(newest.checkpoint.state.epoch, config.optim.epochs)
        XCTAssertEqual(newest.seed, 0)
        let first = run.appendingPathComponent("seed_0/checkpoints/epoch_0001")
        XCTAssertEqual(try RunPrediction(run: run, checkpoint: first).checkpoint.state.epoch, 1)
    }

    func testBestModelRunsPredictWithTheBestValidationCheckpointAsTestingDid() throws {
        var best = TinyRun.config(in: temporaryFolder())
        best.data.root = config.data.root
        best.optim.test_model = .best
        // Only epoch 2 is validated, so it is the best and differs from the last (3) by one
        // epoch of training, whatever the float rounding.
        best.optim.epochs = 3
        best.optim.validate_every = 2
        let folder = try TinyRun.train(best)
        let prediction = try RunPrediction(run: folder)
        let newest = CheckpointStore(root: folder.appendingPathComponent("seed_0/checkpoints"), keep: .max)
            .latestValid().checkpoint
        let bestEpoch = try XCTUnwrap(newest).state.bestEpoch
        XCTAssertEqual(bestEpoch, 2)
        XCTAssertNotEqual(prediction.checkpoint.params.flatMap(\.1.data),
                          try XCTUnwrap(newest).params.flatMap(\.1.data),
                          "the best and the last weights must differ for this test to mean anything")
        XCTAssertEqual(prediction.checkpoint.state.epoch, bestEpoch)
        let image = try testImages()[0]
        let mask = try prediction.predict([image], to: temporaryFolder(), encoderFactory: TinyRun.encoderFactory)[0]
        let fromTraining = folder.appendingPathComponent("seed_0/predictions/" + mask.lastPathComponent)
        XCTAssertEqual(try NIfTIImage(contentsOf: mask).data, try NIfTIImage(contentsOf: fromTraining).data)
    }

    func testDamagedNewestCheckpointIsSkippedAndReported() throws {
        let copy = temporaryFolder()
        try FileManager.default.copyItem(at: run, to: copy)
        let newest = copy.appendingPathComponent(String(format: "seed_0/checkpoints/epoch_%04d/head.safetensors",
                                                        config.optim.epochs))
        try Data("garbage".utf8).write(to: newest)
        let prediction = try RunPrediction(run: copy)
        XCTAssertEqual(prediction.checkpoint.state.epoch, config.optim.epochs - 1)
        XCTAssertEqual(prediction.skipped.count, 1)
        XCTAssertTrue(prediction.skipped[0].contains(newest.path), prediction.skipped[0])
    }

    func testBadRunsAndInputsGiveErrorsNamingThePath() throws {
        let empty = temporaryFolder()
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        assertError(try RunPrediction(run: empty), contains: empty.appendingPathComponent("config.json").path)
        assertError(try RunPrediction(run: run, seed: 5), contains: "seed 5 is not one of the run's seeds")
        let misnamed = run.appendingPathComponent("seed_0/checkpoints")
        assertError(try RunPrediction(run: run, checkpoint: misnamed), contains: "epoch_NNNN")
        let text = empty.appendingPathComponent("notes.txt")
        try Data("x".utf8).write(to: text)
        assertError(try RunPrediction.inputs(text), contains: text.path)
        assertError(try RunPrediction.inputs(empty), contains: "no .nii or .nii.gz files")
        let fourD = empty.appendingPathComponent("series.nii.gz")
        try NIfTIImage(header: NIfTIHeader(shape: [8, 8, 2, 3], spacing: [1, 1, 1, 1], datatype: .float32),
                       data: [Float](repeating: 1, count: 384)).write(to: fourD)
        let out = empty.appendingPathComponent("out")
        assertError(try RunPrediction(run: run).predict([fourD], to: out, encoderFactory: TinyRun.encoderFactory),
                    contains: fourD.path)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path), "nothing may be written when an input is bad")
    }

    func testOutputMayNotOverwriteItsInput() throws {
        let folder = temporaryFolder()
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let input = folder.appendingPathComponent("scan.nii.gz")
        try FileManager.default.copyItem(at: try testImages()[0], to: input)
        assertError(try RunPrediction(run: run).predict([input], to: folder, encoderFactory: TinyRun.encoderFactory),
                    contains: "overwrite its input")
    }

    private func assertError<T>(_ body: @autoclosure () throws -> T, contains text: String, line: UInt = #line) {
        XCTAssertThrowsError(try body(), line: line) { error in
            XCTAssertTrue("\(error)".contains(text), "'\(error)' does not mention '\(text)'", line: line)
        }
    }
}
