import Foundation
import XCTest
@testable import Datasets

final class PhantomTests: TemporaryDirectoryTestCase {
    func testPhantomIsReadBackByTheACDCLoader() throws {
        let root = tmp.appendingPathComponent("synth")
        let written = try Phantom.writeDataset(to: root, patients: 3, seed: 11, inPlaneScale: 0.25)
        let index = try DatasetIndex.scan(root)
        XCTAssertEqual(index.layout, .acdc)
        XCTAssertEqual(index.patients, ["patient001", "patient002", "patient003"])
        XCTAssertEqual(index.volumes.compactMap(\.phase), ["ED", "ES", "ED", "ES", "ED", "ES"])
        let volumes = try index.load(normalise: false)
        for (k, p) in written.enumerated() {
            for (f, phase) in CardiacPhase.allCases.enumerated() {
                let v = volumes[2 * k + f], frame = PhantomFrame(patient: p, phase: phase)
                XCTAssertEqual(v.name, p.id + String(format: "_frame%02d", phase == .ed ? p.edFrame : p.esFrame))
                XCTAssertEqual([v.width, v.height, v.depth], [p.width, p.height, p.depth])
                XCTAssertEqual(v.spacing.column, p.pixelSpacing, accuracy: 1e-5)
                XCTAssertEqual(v.spacing.slice, p.sliceThickness)
                XCTAssertEqual(v.labels, frame.labels)
                XCTAssertEqual(v.image, frame.image.map { min($0.rounded(), 32767) }, "stored as int16")
            }
        }
        let info = try String(contentsOf: root.appendingPathComponent("patient002/Info.cfg"), encoding: .utf8)
        XCTAssertTrue(info.hasPrefix("ED: 1\nES: \(written[1].esFrame)\nGroup: \(written[1].group)\n"), info)
    }

    func testPatientsVaryAndAreReproducible() {
        let patients = (0..<10).map { PhantomPatient(index: $0, seed: 4) }
        XCTAssertEqual(Set(patients.map(\.group)), ["NOR", "MINF", "DCM", "HCM", "RV"])
        XCTAssertGreaterThan(Set(patients.map(\.width)).count, 3)
        XCTAssertGreaterThan(Set(patients.map(\.depth)).count, 1)
        for p in patients {
            XCTAssertTrue((144...224).contains(p.width) && (128...208).contains(p.height), "\(p.width)x\(p.height)")
            XCTAssertTrue((8...12).contains(p.depth))
            XCTAssertTrue((1.3...1.85).contains(p.pixelSpacing))
            XCTAssertTrue((6.5...10).contains(p.sliceThickness))
            XCTAssertLessThan(p.esFrame, p.frameCount)
        }
        let small = PhantomPatient(index: 3, seed: 4, inPlaneScale: 0.25)
        XCTAssertEqual(PhantomFrame(patient: small, phase: .es).image, PhantomFrame(patient: small, phase: .es).image)
        let otherSeed = PhantomPatient(index: 3, seed: 5, inPlaneScale: 0.25)
        XCTAssertNotEqual(PhantomFrame(patient: small, phase: .es).image,
                          PhantomFrame(patient: otherSeed, phase: .es).image)
    }

    /// LV inside the myocardium ring, all classes present in the middle slice, ED cavity larger
    /// than ES, blood brighter than myocardium.
    func testAnatomyIsPlausible() {
        for index in 0..<5 {
            let p = PhantomPatient(index: index, seed: 1, inPlaneScale: 0.4)
            let ed = PhantomFrame(patient: p, phase: .ed), es = PhantomFrame(patient: p, phase: .es)
            let plane = p.width * p.height, mid = p.depth / 3
            let midSlice = ed.labels[mid * plane ..< (mid + 1) * plane]
            XCTAssertEqual(Set(midSlice), [0, 1, 2, 3], "patient \(index) middle slice classes")
            XCTAssertGreaterThan(ed.labels.filter { $0 == 3 }.count, es.labels.filter { $0 == 3 }.count,
                                 "ED cavity > ES cavity")
            var lvTouchingOther = 0
            for z in 0..<p.depth {
                for y in 1..<(p.height - 1) {
                    for x in 1..<(p.width - 1) where ed.labels[z * plane + y * p.width + x] == 3 {
                        let i = z * plane + y * p.width + x
                        for n in [i - 1, i + 1, i - p.width, i + p.width] where ed.labels[n] < 2 {
                            lvTouchingOther += 1
                        }
                    }
                }
            }
            XCTAssertEqual(lvTouchingOther, 0, "LV pixels next to background or RV (patient \(index))")
            func mean(_ label: UInt8) -> Float {
                let values = zip(ed.image, ed.labels).filter { $0.1 == label }.map(\.0)
                return values.reduce(0, +) / Float(values.count)
            }
            XCTAssertGreaterThan(mean(3), 2 * mean(2), "bright blood, dark myocardium")
            XCTAssertTrue(ed.image.allSatisfy { $0.isFinite && $0 >= 0 })
        }
    }

    func testMontageDrawsLabelBoundariesInClassColours() throws {
        let grey: [Float] = (0..<36).map(Float.init)
        var labels = [UInt8](repeating: 0, count: 36)
        for r in 1..<5 { for c in 1..<5 { labels[r * 6 + c] = 2 } }
        labels[2 * 6 + 2] = 3
        let png = Montage.render([MontageTile(width: 6, height: 6, grey: grey, labels: labels),
                                  MontageTile(width: 4, height: 3, grey: [Float](repeating: 1, count: 12),
                                              labels: nil)],
                                 columns: 2, gap: 1)
        XCTAssertEqual([png.width, png.height, png.kind.channels], [15, 8, 3])
        func pixel(_ x: Int, _ y: Int) -> [UInt16] {
            Array(png.samples[(y * png.width + x) * 3 ..< (y * png.width + x) * 3 + 3])
        }
        XCTAssertEqual(pixel(1 + 1, 1 + 1), [46, 184, 92], "Myo boundary in green")
        XCTAssertEqual(pixel(1 + 2, 1 + 2), [58, 134, 255], "LV pixel (its own boundary) in blue")
        XCTAssertEqual(pixel(1, 1), [0, 0, 0], "grey window starts at the 1st percentile")
        XCTAssertEqual(pixel(0, 0), [0, 0, 0], "gap")
        let back = try PNGImage(bytes: try png.encoded(), file: "m.png")
        XCTAssertEqual(back, png)
    }

    func testPreviewOfAPhantomDataset() throws {
        let root = tmp.appendingPathComponent("synth")
        try Phantom.writeDataset(to: root, patients: 1, seed: 2, inPlaneScale: 0.25)
        let volumes = try DatasetIndex.scan(root).load()
        let png = Montage.preview(volumes)
        let cellW = volumes.map(\.width).max()!, cellH = volumes.map(\.height).max()!
        XCTAssertEqual(png.width, 4 * cellW + 5 * 4)
        XCTAssertEqual(png.height, 2 * cellH + 3 * 4)
    }
}
