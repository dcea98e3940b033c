import XCTest
import TensorFiles
import Optim
import Tensors
import TestSupport

final class AdamTests: XCTestCase {
    /// Two Adam steps with the stored AutoSAM gradients reproduce PyTorch's parameters and moments.
    func testTwoStepsMatchPyTorch() throws {
        let adamFile = try Fixtures.file("autosam_adam")
        let head = try Fixtures.file("autosam_head")
        let names = adamFile.names.filter { $0.hasPrefix("step1/") }.map { String($0.dropFirst("step1/".count)) }
        XCTAssertFalse(names.isEmpty)
        var layout = ParameterLayout()
        var params: [Float] = [], grads: [Float] = []
        for name in names {
            let p = try head.tensor("params/" + name)
            layout.append(name, shape: p.shape)
            params += p.data
            grads += try head.tensor("grads/" + name).data
        }
        var adam = Adam(count: params.count, lr: 5e-4)
        adam.update(&params, gradients: grads)
        try compare(params, layout, adamFile, prefix: "step1/")
        adam.update(&params, gradients: grads)
        try compare(params, layout, adamFile, prefix: "step2/")
        try compare(adam.m, layout, adamFile, prefix: "exp_avg_step2/")
        try compare(adam.v, layout, adamFile, prefix: "exp_avg_sq_step2/")
        XCTAssertEqual(adam.step, 2)
    }

    private func compare(_ buffer: [Float], _ layout: ParameterLayout, _ file: SafeTensorsFile, prefix: String) throws {
        for name in layout.names {
            let expected = try file.tensor(prefix + name)
            let atol = Fixtures.suggestedAtol("autosam_adam", prefix + name, default: 4e-6)
            assertClose(layout.tensor(name, in: buffer).data, expected.data, atol: atol, rtol: 1e-6, prefix + name)
        }
    }

    func testStateRoundTripsThroughCodable() throws {
        var adam = Adam(count: 3, lr: 1e-3)
        var p: [Float] = [1, 2, 3]
        adam.update(&p, gradients: [0.1, -0.2, 0.3])
        let restored = try JSONDecoder().decode(Adam.self, from: JSONEncoder().encode(adam))
        XCTAssertEqual(restored, adam)
        var a = adam, b = restored, pa = p, pb = p
        a.update(&pa, gradients: [1, 1, 1])
        b.update(&pb, gradients: [1, 1, 1])
        XCTAssertEqual(pa, pb)
    }
}

final class ReduceLROnPlateauTests: XCTestCase {
    /// Mirrors torch.optim.lr_scheduler.ReduceLROnPlateau(mode='min', factor=0.1, patience=10,
    /// threshold=1e-4, threshold_mode='rel'): the 11th bad epoch after the best reduces the rate.
    func testReducesAfterPatienceExceeded() {
        var s = ReduceLROnPlateau()
        var lr: Float = 5e-4
        lr = s.step(metric: 1.0, lr: lr)          // best = 1
        for _ in 0..<10 { lr = s.step(metric: 1.0, lr: lr) }
        XCTAssertEqual(lr, 5e-4)
        lr = s.step(metric: 0.99995, lr: lr)      // within the 1e-4 relative threshold: still bad
        XCTAssertEqual(lr, 5e-4 * 0.1, accuracy: 1e-12)
        XCTAssertEqual(s.reductions, 1)
        lr = s.step(metric: 0.5, lr: lr)          // improvement resets the count
        XCTAssertEqual(s.badEpochs, 0)
        XCTAssertEqual(s.best, 0.5)
    }

    func testStateSurvivesCheckpointRoundTrip() throws {
        var s = ReduceLROnPlateau()
        var lr: Float = 1
        for m in [3.0, 2.0, 2.5, 2.4] as [Float] { lr = s.step(metric: m, lr: lr) }
        let restored = try JSONDecoder().decode(ReduceLROnPlateau.self, from: JSONEncoder().encode(s))
        XCTAssertEqual(restored, s)
    }

    func testMinimumLearningRateFloor() {
        var s = ReduceLROnPlateau(patience: 0, minLR: 0.05)
        var lr: Float = 1
        lr = s.step(metric: 1, lr: lr)
        lr = s.step(metric: 1, lr: lr)
        XCTAssertEqual(lr, 0.1, accuracy: 1e-7)
        lr = s.step(metric: 1, lr: lr)
        XCTAssertEqual(lr, 0.05, accuracy: 1e-7)
        lr = s.step(metric: 1, lr: lr)
        XCTAssertEqual(lr, 0.05, accuracy: 1e-7)
    }
}
