import Config
import Datasets
import Embeddings
import Metrics
import Runs
import Training

extension Volume {
    /// Standard-mode scores of a predicted label map (D, H, W) against this volume's labels, at
    /// native resolution with the voxel spacing (the evaluation of every run); nil without labels.
    public func scores(of prediction: [UInt8], classes: Int) -> VolumeScores? {
        guard let reference = labels else { return nil }
        return VolumeEvaluator.evaluate(name: name, prediction: prediction, reference: reference,
                                        shape: VolumeShape(z: depth, y: height, x: width),
                                        spacing: VoxelSpacing(z: spacing.slice, y: spacing.row, x: spacing.column),
                                        classCount: classes, mode: .standard)
    }
}
