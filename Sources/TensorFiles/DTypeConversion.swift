import Foundation

/// Little-endian element decoding shared by the safetensors and `.pth` readers.
public enum DTypeConversion {
    public static func floats(from raw: Data, dtype: DType, count: Int) -> [Float] {
        raw.withUnsafeBytes { buf -> [Float] in
            switch dtype {
            case .f32:
                return (0..<count).map {
                    Float(bitPattern: UInt32(littleEndian: buf.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)))
                }
            case .f64:
                return (0..<count).map {
                    let bits = UInt64(littleEndian: buf.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self))
                    return Float(Double(bitPattern: bits))
                }
            case .f16:
                return (0..<count).map {
                    halfToFloat(UInt16(littleEndian: buf.loadUnaligned(fromByteOffset: $0 * 2, as: UInt16.self)))
                }
            case .bf16:
                return (0..<count).map {
                    let half = UInt16(littleEndian: buf.loadUnaligned(fromByteOffset: $0 * 2, as: UInt16.self))
                    return Float(bitPattern: UInt32(half) << 16)
                }
            default: return integers(from: raw, dtype: dtype, count: count)!.map(Float.init)
            }
        }
    }

    public static func integers(from raw: Data, dtype: DType, count: Int) -> [Int]? {
        raw.withUnsafeBytes { buf -> [Int]? in
            switch dtype {
            case .i64:
                return (0..<count).map {
                    Int(Int64(littleEndian: buf.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self)))
                }
            case .i32:
                return (0..<count).map {
                    Int(Int32(littleEndian: buf.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self)))
                }
            case .i16:
                return (0..<count).map {
                    Int(Int16(littleEndian: buf.loadUnaligned(fromByteOffset: $0 * 2, as: Int16.self)))
                }
            case .i8: return (0..<count).map { Int(buf.load(fromByteOffset: $0, as: Int8.self)) }
            case .u8, .bool: return (0..<count).map { Int(buf[$0]) }
            default: return nil
            }
        }
    }

    public static func bytes(of values: [Float]) -> Data {
        var out = Data(count: values.count * 4)
        out.withUnsafeMutableBytes { buf in
            for (i, v) in values.enumerated() {
                buf.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: i * 4, as: UInt32.self)
            }
        }
        return out
    }

    /// IEEE 754 half to single, including subnormals, infinities and NaN.
    public static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h >> 15) << 31
        let exponent = UInt32(h >> 10) & 0x1F
        let mantissa = UInt32(h) & 0x3FF
        if exponent == 0 {
            let magnitude = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
            return sign == 0 ? magnitude : -magnitude
        }
        if exponent == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
        return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
    }
}
