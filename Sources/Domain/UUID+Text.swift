package import Foundation

extension UUID {
    /// The lower-case hyphenated form (`0190f5a4-7c3e-7d1a-9b2c-1f0e2d3c4b5a`), written by hand: Foundation's
    /// `uuidString` formats through `snprintf` and needs a `lowercased()` copy, which showed in the profile
    /// of every lookup (an id is formatted for every statement and response).
    package var lowercasedString: String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(36)
        appendLowercased(to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends ``lowercasedString``'s bytes.
    package func appendLowercased(to bytes: inout [UInt8]) {
        let hex: StaticString = "0123456789abcdef"
        let digits = hex.utf8Start
        withUnsafeBytes(of: uuid) { raw in
            for (offset, byte) in raw.enumerated() {
                if offset == 4 || offset == 6 || offset == 8 || offset == 10 { bytes.append(UInt8(ascii: "-")) }
                bytes.append(digits[Int(byte >> 4)])
                bytes.append(digits[Int(byte & 0x0F)])
            }
        }
    }

    /// Parses the hyphenated form in either letter case without Foundation's `sscanf`; `nil` for anything
    /// else (wrong length, misplaced hyphens, a non-hex digit).
    package init?(hyphenated text: some StringProtocol) {
        var text = String(text)
        let parsed: uuid_t? = text.withUTF8 { utf8 -> uuid_t? in
            guard utf8.count == 36 else { return nil }
            var bytes: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            let complete = withUnsafeMutableBytes(of: &bytes) { output -> Bool in
                var index = 0
                for offset in 0..<16 {
                    if offset == 4 || offset == 6 || offset == 8 || offset == 10 {
                        guard utf8[index] == UInt8(ascii: "-") else { return false }
                        index += 1
                    }
                    guard let high = Self.nibble(utf8[index]), let low = Self.nibble(utf8[index + 1]) else {
                        return false
                    }
                    output[offset] = high << 4 | low
                    index += 2
                }
                return true
            }
            return complete ? bytes : nil
        }
        guard let parsed else { return nil }
        self.init(uuid: parsed)
    }

    private static func nibble(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): character - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): character - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
