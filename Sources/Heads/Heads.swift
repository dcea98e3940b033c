/// Trainable prediction heads on flat parameter buffers: AutoSAM decoder, CNN and linear heads (DESIGN §3.3-3.4).
public enum Heads {}
