/// A box could not be derived from a label map (the reference asserts).
public struct BoxPromptError: Error, CustomStringConvertible, Equatable {
    public let classValue: Int
    public let box: [Int]
    public var description: String {
        "no valid box for class \(classValue): the transition scan gave \(box) (x_min >= x_max or y_min >= y_max)"
    }
}

/// The AutoSAM zero-shot baseline's box from a label map (fixtures README quirk 13).
/// ref: AutoSAM scripts/inference.py @ 50a6ff4, `get_box`.
///
/// A row (column) is occupied if any pixel has the class. Scanning rows from index 1 down, the
/// first occupied row after an empty one is the top (default 0); scanning from H-2 up to 1, the
/// first occupied row followed by an empty one is the bottom (default H); likewise for columns.
/// The box is (left - 1, top - 1, right + 1, bottom + 1), so an object touching the border gives -1
/// or H+1 (W+1), and with several components the first transition found wins.
public enum BoxPrompt {
    /// (x_min, y_min, x_max, y_max) for `classValue` in `label` (H, W), row-major.
    /// Throws `BoxPromptError` when the scan gives an empty box (the reference's assertion).
    public static func box(label: [Int], height: Int, width: Int, classValue: Int) throws -> [Int] {
        precondition(label.count == height * width, "label has \(label.count) pixels, expected \(height) x \(width)")
        var rows = [Bool](repeating: false, count: height), columns = [Bool](repeating: false, count: width)
        for i in 0..<height {
            for j in 0..<width where label[i * width + j] == classValue {
                rows[i] = true
                columns[j] = true
            }
        }
        let (top, bottom) = span(rows)
        let (left, right) = span(columns)
        let box = [left - 1, top - 1, right + 1, bottom + 1]
        guard box[0] < box[2], box[1] < box[3] else { throw BoxPromptError(classValue: classValue, box: box) }
        return box
    }

    /// (first empty -> occupied transition from the start, last occupied -> empty transition from
    /// the end), defaults (0, n).
    private static func span(_ occupied: [Bool]) -> (Int, Int) {
        let n = occupied.count
        let first = (1..<max(n, 1)).first { !occupied[$0 - 1] && occupied[$0] } ?? 0
        let last = stride(from: n - 2, to: 0, by: -1).first { !occupied[$0 + 1] && occupied[$0] } ?? n
        return (first, last)
    }
}
