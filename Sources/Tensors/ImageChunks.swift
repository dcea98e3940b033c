/// Work items over a batch: each image's `length` positions (grid rows, pixels) cut into chunks of
/// `chunk` consecutive positions (the last one shorter), item i being chunk i % perImage of image
/// i / perImage. Used to run cache-sized pieces of a map one per core.
public struct ImageChunks: Sendable {
    public let length, chunk, perImage, count: Int

    public init(batch: Int, length: Int, chunk: Int) {
        precondition(length > 0 && chunk > 0, "chunks of \(chunk) over \(length) positions")
        (self.length, self.chunk) = (length, min(chunk, length))
        perImage = (length + self.chunk - 1) / self.chunk
        count = batch * perImage
    }

    /// Item `i`: its image and its positions.
    public subscript(i: Int) -> (image: Int, range: Range<Int>) {
        let first = i % perImage * chunk
        return (i / perImage, first..<min(first + chunk, length))
    }
}
