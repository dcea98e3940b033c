/// Segmentation metrics per volume with voxel spacing: Dice, ASSD, HD95 (DESIGN §3.7).
public enum Metrics {}
