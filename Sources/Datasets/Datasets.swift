/// Medical image data: NIfTI and PNG volumes, dataset layouts, splits, augmentation and the
/// synthetic cardiac phantom (DESIGN §3.6).
public enum Datasets {}
