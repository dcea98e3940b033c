import Foundation
import Tensors

/// Train / validation / test patients of one fold.
public struct Split: Codable, Equatable, Sendable {
    public let fold: Int
    public let train: [String]
    public let val: [String]
    public let test: [String]

    /// The first `trainSize` training patients (all when nil): the paper's 1- and 5-patient settings.
    /// A patient brings all its volumes (both ACDC frames).
    public func trainPatients(trainSize: Int?) throws -> [String] {
        guard let n = trainSize else { return train }
        guard n >= 1, n <= train.count else {
            throw DatasetError(file: "fold \(fold)", .inconsistent,
                               "train_size \(n) but the fold has \(train.count) training patients")
        }
        return Array(train.prefix(n))
    }
}

/// The splits of a dataset (DESIGN §3.6): for each of `folds` folds the patients are shuffled by
/// the seed (fold k uses the counter-based stream (seed, k)) and cut 70 / 15 / 15 % into train,
/// val and test (train and val rounded down, test the rest, as the reference; with 3 or more
/// patients val gets at least one).
/// Stored as pretty-printed JSON and reused when present.
public struct SplitPlan: Codable, Equatable, Sendable {
    public let seed: UInt64
    /// All patients, sorted: what the plan was made for.
    public let patients: [String]
    public let folds: [Split]

    public static let defaultFolds = 5

    /// A plan from explicit folds (for example hand-made splits).
    public init(seed: UInt64, patients: [String], folds: [Split]) {
        self.seed = seed
        self.patients = patients.sorted()
        self.folds = folds
    }

    public init(patients: [String], seed: UInt64, folds: Int = defaultFolds) {
        precondition(folds >= 1, "folds \(folds)")
        let sorted = Array(Set(patients)).sorted()
        let n = sorted.count
        var nTrain = n * 70 / 100, nVal = n * 15 / 100
        var nTest = n - nTrain - nVal
        if n >= 3 && nVal == 0 {
            nVal = 1
            if nTest > 1 { nTest -= 1 } else { nTrain -= 1 }
        }
        self.seed = seed
        self.patients = sorted
        self.folds = (0..<folds).map { k in
            let order = CounterRNG(seed: seed).substream(0x5350_4C49_54, UInt64(k)).permutation(n).map { sorted[$0] }
            return Split(fold: k, train: Array(order[0..<nTrain]), val: Array(order[nTrain ..< nTrain + nVal]),
                         test: Array(order[(nTrain + nVal)...]))
        }
    }

    public func fold(_ k: Int) throws -> Split {
        guard folds.indices.contains(k) else {
            throw DatasetError(file: "splits", .inconsistent,
                               "fold \(k) requested, the plan has folds 0...\(folds.count - 1)")
        }
        return folds[k]
    }

    /// Reads the plan at `url` if it exists (it must match `patients` and `seed`), otherwise
    /// makes one and writes it there atomically.
    public static func loadOrCreate(at url: URL, patients: [String], seed: UInt64, folds: Int = defaultFolds) throws
        -> SplitPlan {
        guard FileManager.default.fileExists(atPath: url.path) else {
            let plan = SplitPlan(patients: patients, seed: seed, folds: folds)
            try plan.write(to: url)
            return plan
        }
        let plan = try read(url)
        let wanted = Array(Set(patients)).sorted()
        guard plan.seed == seed else {
            throw DatasetError(file: url.path, .inconsistent,
                               "split file was made with seed \(plan.seed), "
                               + "this run asks for seed \(seed); use that seed or another split file")
        }
        guard plan.patients == wanted else {
            let missing = Set(wanted).subtracting(plan.patients).sorted()
            let extra = Set(plan.patients).subtracting(wanted).sorted()
            throw DatasetError(file: url.path, .inconsistent,
                               "split file lists other patients than the dataset "
                               + "(not in file: \(missing.prefix(5)), not in dataset: \(extra.prefix(5)))")
        }
        guard plan.folds.count == folds else {
            throw DatasetError(file: url.path, .inconsistent, "split file has \(plan.folds.count) folds, "
                                                              + "expected \(folds)")
        }
        return plan
    }

    public static func read(_ url: URL) throws -> SplitPlan {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw DatasetError(file: url.path, .io, "cannot read split file (\(error.localizedDescription))")
        }
        do { return try JSONDecoder().decode(SplitPlan.self, from: data) } catch {
            throw DatasetError(file: url.path, .corrupt, "not a split file: \(error)")
        }
    }

    public func write(to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        do { try encoder.encode(self).write(to: url, options: .atomic) } catch {
            throw DatasetError(file: url.path, .io, "cannot write split file (\(error.localizedDescription))")
        }
    }
}
