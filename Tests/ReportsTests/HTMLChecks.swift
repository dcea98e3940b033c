import Foundation
import XCTest

/// Properties of a report's HTML, checked by string search (no HTML parser in the toolchain).
enum HTMLChecks {
    /// Every match of `pattern` (NSRegularExpression) in `html`, as the first capture group.
    static func captures(_ pattern: String, in html: String) -> [String] {
        let regex = try! NSRegularExpression(pattern: pattern, options: [.dotMatchesLineSeparators])
        let ns = html as NSString
        return regex.matches(in: html, range: NSRange(location: 0, length: ns.length)).map {
            ns.substring(with: $0.range(at: 1))
        }
    }

    static func count(_ pattern: String, in html: String) -> Int {
        (try! NSRegularExpression(pattern: pattern, options: [.caseInsensitive]))
            .numberOfMatches(in: html, range: NSRange(location: 0, length: (html as NSString).length))
    }

    /// Nothing fetched from elsewhere: no URLs, no external scripts, styles or fonts.
    static func assertSelfContained(_ html: String, file: StaticString = #filePath, line: UInt = #line) {
        for forbidden in ["http://", "https://", "src=\"//", "<script", "<link", "@import", "url("] {
            XCTAssertFalse(html.lowercased().contains(forbidden), "report contains \(forbidden)",
                           file: file, line: line)
        }
    }

    /// One `<html>`, and every opened html/head/body/table/svg/section/figure element closed.
    static func assertBalanced(_ html: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(count("<html[\\s>]", in: html), 1, "one <html>", file: file, line: line)
        for tag in ["html", "head", "body", "table", "svg", "section", "figure", "thead", "tbody", "tr"] {
            let opened = count("<\(tag)[\\s>]", in: html), closed = count("</\(tag)>", in: html)
            XCTAssertEqual(opened, closed, "<\(tag)> opened \(opened) times, closed \(closed)", file: file, line: line)
        }
        XCTAssertTrue(html.hasPrefix("<!DOCTYPE html>"), file: file, line: line)
    }

    /// Every `<img>` embeds a PNG as a base64 data URI that decodes to a PNG signature and an
    /// IHDR chunk of positive size. Returns the decoded images.
    @discardableResult
    static func assertImagesEmbedded(_ html: String, file: StaticString = #filePath, line: UInt = #line) -> [Data] {
        let tags = captures("(<img[^>]*>)", in: html)
        let sources = captures("<img[^>]*src=\"data:image/png;base64,([A-Za-z0-9+/=]+)\"", in: html)
        XCTAssertEqual(tags.count, sources.count, "every <img> has a PNG data URI", file: file, line: line)
        return sources.compactMap { text in
            guard let data = Data(base64Encoded: text) else {
                XCTFail("undecodable base64", file: file, line: line)
                return nil
            }
            assertPNG(data, file: file, line: line)
            return data
        }
    }

    static func assertPNG(_ data: Data, file: StaticString = #filePath, line: UInt = #line) {
        let bytes = [UInt8](data)
        XCTAssertGreaterThan(bytes.count, 33, file: file, line: line)
        guard bytes.count > 33 else { return }
        XCTAssertEqual(Array(bytes[0..<8]), [137, 80, 78, 71, 13, 10, 26, 10], "PNG signature", file: file, line: line)
        XCTAssertEqual(String(decoding: bytes[12..<16], as: UTF8.self), "IHDR", file: file, line: line)
        let width = bytes[16..<20].reduce(0) { $0 << 8 | Int($1) }
        let height = bytes[20..<24].reduce(0) { $0 << 8 | Int($1) }
        XCTAssertGreaterThan(width, 0, file: file, line: line)
        XCTAssertGreaterThan(height, 0, file: file, line: line)
    }
}
