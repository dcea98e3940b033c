/// SAM: image encoder (frozen), prompt encoder, mask decoder, presets, preprocessing (DESIGN §3.1-3.2).
public enum SAM {}
