/// One 2D slice of a volume in a slice set.
public struct SliceRecord: Sendable, Equatable {
    /// Position in the slice set (volumes in name order, slices in z order): the slice id that
    /// seeds its augmentation stream.
    public let id: Int
    public let patient: String
    /// Volume name, e.g. `patient001_frame01`.
    public let volume: String
    /// Index into `SliceSet.volumes`.
    public let volumeIndex: Int
    /// Slice index z within its volume.
    public let index: Int
    public let sliceCount: Int
    public let height: Int
    public let width: Int
    /// Pixel spacing (row, column) and slice thickness, mm.
    public let spacing: Spacing
}

/// Every 2D slice of a list of volumes (DESIGN §2 "slice set"): the unit that ranks shard,
/// batches sample and augmentation transforms.
public struct SliceSet: Sendable {
    public let volumes: [Volume]
    public let slices: [SliceRecord]

    public init(volumes: [Volume]) {
        self.volumes = volumes
        var records: [SliceRecord] = []
        for (v, volume) in volumes.enumerated() {
            for z in 0..<volume.depth {
                records.append(SliceRecord(id: records.count, patient: volume.patient, volume: volume.name,
                                           volumeIndex: v, index: z, sliceCount: volume.depth, height: volume.height,
                                           width: volume.width, spacing: volume.spacing))
            }
        }
        slices = records
    }

    /// Loads the volumes of `patients` (every frame of each) from `index`.
    public init(index: DatasetIndex, patients: [String], classes: Int = 4, normalise: Bool = true) throws {
        self.init(volumes: try index.load(patients: patients, classes: classes, normalise: normalise))
    }

    public var count: Int { slices.count }

    /// The slice's H x W intensities.
    public func image(_ id: Int) -> ArraySlice<Float> {
        let s = slices[id], size = s.height * s.width
        return volumes[s.volumeIndex].image[s.index * size ..< (s.index + 1) * size]
    }

    /// The slice's H x W class indices, nil for an unlabelled volume.
    public func labels(_ id: Int) -> ArraySlice<UInt8>? {
        let s = slices[id], size = s.height * s.width
        return volumes[s.volumeIndex].labels?[s.index * size ..< (s.index + 1) * size]
    }
}

extension DatasetIndex {
    /// The train (first `trainSize` training patients, all when nil), val and test slice sets of one fold.
    public func sliceSets(_ split: Split, trainSize: Int? = nil, classes: Int = 4,
                          normalise: Bool = true) throws -> (train: SliceSet, val: SliceSet, test: SliceSet) {
        let train = try split.trainPatients(trainSize: trainSize)
        return (try SliceSet(index: self, patients: train, classes: classes, normalise: normalise),
                try SliceSet(index: self, patients: split.val, classes: classes, normalise: normalise),
                try SliceSet(index: self, patients: split.test, classes: classes, normalise: normalise))
    }
}
