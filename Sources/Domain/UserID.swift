public import Foundation

/// The identity of a user: a UUID, time-ordered (version 7) when this package generates it.
///
/// Time-ordered identifiers keep inserts local in B-tree indexes, and ordering users by id orders them
/// roughly by registration time. Any UUID is accepted when an id comes from outside (an import, a URL).
///
/// The textual form is the lower-case hyphenated UUID (`0190f5a4-7c3e-7d1a-9b2c-1f0e2d3c4b5a`); ids
/// compare by their 16 bytes, the order PostgreSQL's `uuid` and a byte-wise SQLite index use.
public struct UserID: Hashable, Sendable, Comparable, Codable, LosslessStringConvertible {
    /// The underlying UUID.
    public let uuid: UUID

    /// Wraps a UUID.
    public init(_ uuid: UUID) {
        self.uuid = uuid
    }

    /// Parses the textual form of a UUID, in either letter case; `nil` when it is not one.
    public init?(_ description: String) {
        guard let uuid = UUID(hyphenated: description) else { return nil }
        self.uuid = uuid
    }

    /// The lower-case hyphenated form.
    public var description: String { uuid.lowercasedString }

    /// Orders ids by their bytes, as a database index on the id does.
    public static func < (lhs: UserID, rhs: UserID) -> Bool {
        withUnsafeBytes(of: lhs.uuid.uuid) { left in
            withUnsafeBytes(of: rhs.uuid.uuid) { right in
                left.lexicographicallyPrecedes(right)
            }
        }
    }

    /// Decodes an id from its textual form.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let id = UserID(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "Not a UUID.")
        }
        self = id
    }

    /// Encodes the id as its lower-case textual form.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

extension UUID {
    /// Builds a version 7 UUID (RFC 9562) from a Unix millisecond timestamp and random bits.
    ///
    /// - Parameters:
    ///   - unixMilliseconds: the timestamp; only its low 48 bits are used.
    ///   - sequence: the 12 bits of `rand_a`, which a generator may use as a counter within one millisecond.
    ///   - random: the 62 bits of `rand_b`.
    package static func version7(unixMilliseconds: UInt64, sequence: UInt16, random: UInt64) -> UUID {
        let ms = unixMilliseconds & 0xFFFF_FFFF_FFFF
        let a = sequence & 0x0FFF
        let b = random & 0x3FFF_FFFF_FFFF_FFFF
        return UUID(
            uuid: (
                UInt8(truncatingIfNeeded: ms >> 40), UInt8(truncatingIfNeeded: ms >> 32),
                UInt8(truncatingIfNeeded: ms >> 24), UInt8(truncatingIfNeeded: ms >> 16),
                UInt8(truncatingIfNeeded: ms >> 8), UInt8(truncatingIfNeeded: ms),
                0x70 | UInt8(truncatingIfNeeded: a >> 8), UInt8(truncatingIfNeeded: a),
                0x80 | UInt8(truncatingIfNeeded: b >> 56), UInt8(truncatingIfNeeded: b >> 48),
                UInt8(truncatingIfNeeded: b >> 40), UInt8(truncatingIfNeeded: b >> 32),
                UInt8(truncatingIfNeeded: b >> 24), UInt8(truncatingIfNeeded: b >> 16),
                UInt8(truncatingIfNeeded: b >> 8), UInt8(truncatingIfNeeded: b)
            )
        )
    }
}
