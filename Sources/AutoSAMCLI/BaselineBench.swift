import ArgumentParser
import Collectives
import Datasets
import Foundation
import Heads
import Layers
import Tensors

/// `autosam bench baselines`: the UNet baseline's training step and the SimCLR pretraining step's
/// parts at the paper's size (224 x 224 slices, width 64, 4 levels), with GFLOP/s and peak memory.
struct BaselineBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "baselines",
        abstract: "UNet training step and SimCLR pretraining step (encoder + projection, NT-Xent) "
            + "times and peak memory."
    )

    @Option(help: "Slice size S.")
    var size: Int = 224

    @Option(help: "UNet base width w.")
    var width: Int = 64

    @Option(help: "UNet levels L (S must be a multiple of 2^L).")
    var levels: Int = 4

    @Option(help: "UNet training batch.")
    var batch: Int = 4

    @Option(help: "SimCLR views per forward/backward chunk (pretrain.micro_batch).")
    var views: Int = 8

    @Option(help: "SimCLR global batch of slices N for the NT-Xent timing (2N views).")
    var samples: Int = 32

    @Option(help: "Projection width.")
    var projectionDim: Int = 128

    @Option(help: "Timed steps (after one warm-up step).")
    var steps: Int = 2

    @OptionGroup var threads: BenchThreadOption

    func validate() throws {
        for (name, value) in [("--size", size), ("--width", width), ("--levels", levels), ("--batch", batch),
                              ("--views", views), ("--samples", samples), ("--projection-dim", projectionDim),
                              ("--steps", steps)] where value < 1 {
            throw ValidationError("\(name) must be positive, got \(value)")
        }
        guard size % (1 << levels) == 0 else { throw ValidationError("--size must be a multiple of 2^levels") }
    }

    func run() throws {
        threads.apply()
        print(BenchHarness.machineLine + "; \(steps) timed steps after 1 warm-up")
        let unet = UNet(classes: 4, width: width, levels: levels)
        let rng = CounterRNG(seed: 2024, stream: 1)
        print("what                               params    fwd ms    bwd ms   step ms   GFLOP/s  peak RSS MB")
        let images = Tensor(shape: [batch, 3, size, size], data: rng.normals(batch * 3 * size * size))
        let labels = (0..<batch * size * size).map { Int32(rng.uniformInt(UInt64($0), below: 4)) }
        var state = unet.initialState(seed: 1).trainable
        var step: HeadStep<UNet>? = HeadStep(head: unet)
        let unetBatch = LocalBatch(embeddings: images, labels: labels, labelSize: size)
        var unetSums = (forward: 0.0, backward: 0.0)
        for round in 0...steps {   // the training path itself (HeadStep.run), timed by its phase clock
            _ = try step!.run(unetBatch, globalCount: batch, state: &state, frozen: .empty,
                              comm: SingleProcessCommunicator(), backward: true)
            guard round > 0, let p = step?.phases else { continue }
            unetSums.forward += p.forward
            unetSums.backward += p.loss + p.backward
        }
        let unetTimes = (forward: unetSums.forward / Double(steps), backward: unetSums.backward / Double(steps))
        row("unet w\(width) L\(levels) batch \(batch)", state.layout.totalCount, unetTimes,
            unet.multiplyAdds(batch: batch, size: size))
        step = nil     // release the UNet's activations before the SimCLR part

        let network = SimCLRNetwork(unet: unet, projectionDim: projectionDim)
        let params = network.initialParameters(seed: 1)
        var grads = [Float](repeating: 0, count: params.count)
        var simclr = SimCLRWorkspace()
        let chunk = Tensor(shape: [views, 3, size, size], data: rng.normals(views * 3 * size * size, start: 1 << 40))
        let dZ = rng.normals(views * projectionDim, start: 1 << 41)
        let encoderTimes = time {
            _ = network.forward(chunk, parameters: params, workspace: &simclr)
            return {
                dZ.withUnsafeBufferPointer {
                    network.backward($0.baseAddress!, parameters: params, gradients: &grads, workspace: &simclr)
                }
            }
        }
        row("simclr encoder+proj \(views) views", params.count, encoderTimes,
            unet.multiplyAdds(batch: views, size: size, units: unet.encoderUnitCount))
        let z = rng.normals(2 * samples * projectionDim, start: 1 << 42)
        var dz = [Float](repeating: 0, count: z.count)
        let started = Date()
        for _ in 0..<steps { NTXentLoss.backward(dZ: &dz, upstream: 1, z: z, samples: samples, dim: projectionDim) }
        print(String(format: "NT-Xent loss + gradient, %d views x %d: %.1f ms", 2 * samples, projectionDim,
                     Date().timeIntervalSince(started) / Double(steps) * 1000))
        let augmentation = augmentationSeconds(rng)
        print(String(format: "augmentation of one view (256 x 216 slice -> %d): %.1f ms", size, augmentation * 1000))
        let perStep = (encoderTimes.forward * 2 + encoderTimes.backward + augmentation * Double(views))
            * Double(2 * samples) / Double(views)
        print(String(format: "a SimCLR step of %d slices (2 x %d views, chunks of %d: forward twice, backward once) "
                     + "on one rank: about %.1f s",
                     samples, samples, views, perStep))
    }

    /// Seconds of one training augmentation (DESIGN §3.6) of an ACDC-sized slice to S x S.
    private func augmentationSeconds(_ rng: CounterRNG) -> Double {
        let (h, w) = (256, 216)
        let image = rng.normals(h * w, start: 1 << 43)
        var config = AugmentationConfig.reference
        config.outputSize = size
        let augmenter = Augmenter(config: config, seed: 1)
        let started = Date()
        for i in 0..<(4 * steps) {
            _ = image.withUnsafeBufferPointer {
                augmenter.augment(image: $0.baseAddress!, labels: nil, height: h, width: w,
                                  rng: CounterRNG(seed: 1).substream(UInt64(i)))
            }
        }
        return Date().timeIntervalSince(started) / Double(4 * steps)
    }

    /// Mean forward and backward seconds of `steps` calls after one warm-up; `body` runs the
    /// forward and returns the backward.
    private func time(_ body: () -> () -> Void) -> (forward: Double, backward: Double) {
        var sums = (forward: 0.0, backward: 0.0)
        for step in 0...steps {
            let start = Date()
            let backward = body()
            let middle = Date()
            backward()
            if step > 0 {
                sums.forward += middle.timeIntervalSince(start)
                sums.backward += Date().timeIntervalSince(middle)
            }
        }
        return (sums.forward / Double(steps), sums.backward / Double(steps))
    }

    private func row(_ name: String, _ params: Int, _ t: (forward: Double, backward: Double), _ multiplyAdds: Int) {
        let gflops = 6.0 * Double(multiplyAdds) / (t.forward + t.backward) / 1e9
        print(name.padding(toLength: 32, withPad: " ", startingAt: 0)
              + String(format: "%9d %9.1f %9.1f %9.1f %9.1f %12d", params, t.forward * 1000, t.backward * 1000,
                       (t.forward + t.backward) * 1000, gflops, BenchHarness.peakResidentMB()))
    }
}
