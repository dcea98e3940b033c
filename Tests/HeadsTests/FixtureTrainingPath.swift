import Collectives
import Heads
import Layers
import Tensors
import TestSupport
import XCTest

/// Runs the training path (`HeadStep.run`, the code that trains) on a fixture's batch and
/// compares the loss parts and every parameter gradient with what PyTorch stored, through three
/// communicators: one process; 2 in-process ranks with an uneven split (`unevenShares`); and 3
/// ranks dealt round-robin as training deals them (`BatchSharding`, an empty share when B < 3).
/// Summing shares changes only the float summation order, so the fixture's tolerances hold for
/// every split.
enum FixtureTrainingPath {
    /// How the B items of a batch are dealt: the item indices of each rank.
    struct Dealing {
        let name: String
        let shares: [[Int]]
    }

    static func dealings(batch b: Int) -> [Dealing] {
        [Dealing(name: "1 rank", shares: [Array(0..<b)]),
         Dealing(name: "2 ranks, uneven", shares: unevenShares(batch: b)),
         Dealing(name: "3 ranks, round-robin",
                 shares: (0..<3).map { BatchSharding.share(Array(0..<b), rank: $0, size: 3) })]
    }

    /// Rank 1 takes the first (B-1)/2 items and rank 0 the rest: the shares always differ in size
    /// (B = 2 gives rank 1 an empty share), and rank order is not batch order.
    static func unevenShares(batch b: Int) -> [[Int]] {
        let first = (b - 1) / 2
        return [Array(first..<b), Array(0..<first)]
    }

    /// Items `indices` of a (B, ...) tensor.
    static func rows(_ t: Tensor, _ indices: [Int]) -> Tensor {
        guard let b = t.shape.first, b > 0 else { return t }
        let per = t.count / b
        return Tensor(shape: [indices.count] + t.shape.dropFirst(),
                      data: indices.flatMap { t.data[$0 * per ..< ($0 + 1) * per] })
    }

    /// The loss parts and summed gradient of every rank of every dealing.
    static func run<H: SegmentationHead>(_ head: H, state: TrainableState, frozen: FrozenState,
                                         inputs: HeadFixtureTests.Inputs) throws
        -> [(Dealing, [(SegmentationLoss.Parts, [Float])])] {
        let b = inputs.embeddings.shape[0], pixels = inputs.labelHeight * inputs.labelWidth
        return try dealings(batch: b).map { dealing in
            let outcomes = try LocalGroup.run(size: dealing.shares.count) { comm -> (SegmentationLoss.Parts, [Float]) in
                let mine = dealing.shares[comm.rank]
                let labels = mine.flatMap { inputs.labels[$0 * pixels ..< ($0 + 1) * pixels] }
                let batch = mine.isEmpty
                    ? LocalBatch.empty(labelHeight: inputs.labelHeight, labelWidth: inputs.labelWidth)
                    : LocalBatch(embeddings: rows(inputs.embeddings, mine), labels: labels,
                                 labelHeight: inputs.labelHeight, labelWidth: inputs.labelWidth)
                var step = HeadStep(head: head)
                var mineState = state
                let parts = try step.run(batch, globalCount: b, state: &mineState, frozen: frozen, comm: comm,
                                         backward: true)
                return (parts, mineState.grads)
            }
            return (dealing, outcomes)
        }
    }

    /// Compares every rank of every dealing with the fixture `name`: `loss`, `ce`, `dice`,
    /// `dice_per_class` and `grads/<param>` for each trainable parameter. `rtol(param)` lets
    /// mathematically zero gradients be compared with the absolute tolerance only.
    static func check<H: SegmentationHead>(_ head: H, state: TrainableState, frozen: FrozenState, fixture name: String,
                                           rtol: (String) -> Float = { _ in 1e-4 },
                                           file: StaticString = #filePath, line: UInt = #line) throws {
        let stored = try Fixtures.file(name), inputs = try HeadFixtureTests.Inputs.load()
        for (dealing, outcomes) in try run(head, state: state, frozen: frozen, inputs: inputs) {
            for (rank, (parts, grads)) in outcomes.enumerated() {
                let context = "\(name), \(dealing.name), rank \(rank)"
                for (key, value) in [("loss", parts.total), ("ce", parts.crossEntropy), ("dice", parts.dice.loss)] {
                    assertClose([Float(value)], try stored.tensor(key).data, atol: Fixtures.suggestedAtol(name, key),
                                rtol: 1e-4, "\(context): \(key)", file: file, line: line)
                }
                assertClose(parts.dice.perClass.map(Float.init), try stored.tensor("dice_per_class").data,
                            atol: Fixtures.suggestedAtol(name, "dice_per_class"), rtol: 1e-4,
                            "\(context): dice_per_class", file: file, line: line)
                for param in head.layout.names {
                    let key = "grads/" + param
                    assertClose(head.layout.tensor(param, in: grads), try stored.tensor(key),
                                atol: Fixtures.suggestedAtol(name, key), rtol: rtol(param), "\(context): \(key)",
                                file: file, line: line)
                }
            }
        }
    }
}
