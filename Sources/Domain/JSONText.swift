package import Foundation

/// Hand-written JSON for the package's fixed shapes (the event envelope, the HTTP representations): the
/// bytes `JSONEncoder` with sorted keys and unescaped slashes gives, without its generic machinery, which
/// costs more than the rest of a lookup or an append. Tests hold the two equal.
///
/// Written as UTF-8 bytes into one buffer reserved up front: building the same text by appending `String`s
/// (temporary strings, growth checks on every append) was more than half of a bulk import's time.
package struct JSONText {
    /// The UTF-8 bytes written so far.
    package private(set) var bytes: [UInt8] = []

    /// An empty text with room for `capacity` bytes.
    package init(capacity: Int) {
        bytes.reserveCapacity(capacity)
    }

    /// The text as a `String`.
    package var string: String { String(decoding: bytes, as: UTF8.self) }

    /// Appends JSON written out in the source (punctuation, keys).
    package mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// Appends `text` as a JSON string: quotes, backslashes and control characters escaped as `JSONEncoder`
    /// escapes them; slashes and everything else as is.
    package mutating func quoted(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): raw(#"\""#)
            case UInt8(ascii: "\\"): raw(#"\\"#)
            case 0x08: raw(#"\b"#)
            case 0x0C: raw(#"\f"#)
            case UInt8(ascii: "\n"): raw(#"\n"#)
            case UInt8(ascii: "\r"): raw(#"\r"#)
            case UInt8(ascii: "\t"): raw(#"\t"#)
            case ..<0x20:
                raw(#"\u00"#)
                bytes.append(Self.hexDigit(byte >> 4))
                bytes.append(Self.hexDigit(byte & 0x0F))
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Appends text that needs no escaping (an identifier, an enumeration's raw value) in quotes.
    package mutating func quotedVerbatim(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        bytes.append(contentsOf: text.utf8)
        bytes.append(UInt8(ascii: "\""))
    }

    /// Appends `{"first":"…","second":"…"}`, the keys given in sorted order.
    package mutating func object(
        _ first: (key: StaticString, value: String), _ second: (key: StaticString, value: String)
    ) {
        raw(#"{""#)
        raw(first.key)
        raw(#"":"#)
        quoted(first.value)
        raw(#",""#)
        raw(second.key)
        raw(#"":"#)
        quoted(second.value)
        raw("}")
    }

    /// Appends an integer in decimal.
    package mutating func integer(_ value: Int) {
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        let start = bytes.count
        repeat {
            bytes.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
            magnitude /= 10
        } while magnitude > 0
        bytes[start...].reverse()
    }

    /// Appends a UUID's lower-case hyphenated form in quotes.
    package mutating func uuid(_ value: UUID) {
        bytes.append(UInt8(ascii: "\""))
        value.appendLowercased(to: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }

    /// Appends a timestamp in RFC 3339 form (UTC, milliseconds) in quotes.
    package mutating func timestamp(_ date: Date) {
        bytes.append(UInt8(ascii: "\""))
        RFC3339.append(date, to: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }

    private static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "a") + value - 10
    }
}
