import Foundation

/// A validated display name: what other people see for a user.
///
/// The name is trimmed of surrounding whitespace and normalised to Unicode NFC, so that a name typed with
/// composed or decomposed accents is stored, compared and counted the same way. It holds 1 to 100 characters
/// (extended grapheme clusters, what a person counts), at most 400 bytes in UTF-8, and no control characters
/// (tabs, line breaks, C0/C1 controls, line and paragraph separators). Format characters such as the
/// zero-width joiner of emoji sequences are allowed.
///
/// The byte bound is there because one character can be any number of code points: `A` followed by 300
/// combining marks is one grapheme cluster, so 100 characters alone would let a name be 60 KB. 400 bytes is
/// 100 code points of the longest UTF-8 encoding (4 bytes): any name of 100 characters that are one code
/// point each fits, in any script (100 CJK characters are 300 bytes, 100 simple emoji 400); a name made of
/// multi-code-point characters (emoji ZWJ sequences and flags, stacks of combining marks) meets the byte
/// bound first. It is counted after trimming and NFC normalisation, on the stored value.
public struct DisplayName: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The normalised name.
    public let value: String

    /// The longest name accepted, in characters (extended grapheme clusters).
    public static let maximumLength = 100
    /// The longest name accepted, in UTF-8 bytes (after trimming and NFC): ``maximumLength`` code points of
    /// 4 bytes each.
    public static let maximumByteCount = 400

    /// Validates and normalises a display name.
    ///
    /// - Throws: ``UserError/invalidDisplayName(_:)`` with the ``Problem`` found.
    public init(_ raw: String) throws(UserError) {
        // Printable ASCII without surrounding spaces (most names) is already trimmed, in NFC, free of
        // control characters and one character per byte: the Unicode work below would return it unchanged.
        if let first = raw.utf8.first, let last = raw.utf8.last, first != 0x20, last != 0x20,
            raw.utf8.count <= Self.maximumLength, raw.utf8.allSatisfy({ (0x20...0x7E).contains($0) })
        {
            self.value = raw
            return
        }
        let value = raw.trimmingCharacters(in: .whitespacesAndNewlines).precomposedStringWithCanonicalMapping
        if value.isEmpty { throw .invalidDisplayName(.empty) }
        for scalar in value.unicodeScalars {
            switch scalar.properties.generalCategory {
            case .control, .lineSeparator, .paragraphSeparator, .surrogate:
                throw .invalidDisplayName(.controlCharacter)
            default:
                continue
            }
        }
        // Walks at most 101 characters (not the whole string, which may be long before the bound refuses it).
        if !value.dropFirst(Self.maximumLength).isEmpty { throw .invalidDisplayName(.tooLong) }
        if value.utf8.count > Self.maximumByteCount { throw .invalidDisplayName(.tooManyBytes) }
        self.value = value
    }

    /// Re-creates a name this package validated before, from a store it wrote; no validation.
    package init(trustedValue value: String) {
        self.value = value
    }

    /// The name.
    public var description: String { value }

    /// What is wrong with a display name that was refused.
    public enum Problem: String, Sendable, Hashable, Codable, CustomStringConvertible {
        /// Nothing but whitespace was given.
        case empty
        /// Longer than ``DisplayName/maximumLength`` characters.
        case tooLong
        /// At most ``DisplayName/maximumLength`` characters, but longer than ``DisplayName/maximumByteCount``
        /// bytes in UTF-8 (characters made of many code points, such as letters with stacks of combining marks).
        case tooManyBytes
        /// A tab, line break or other control character.
        case controlCharacter

        /// A sentence a person can read.
        public var description: String {
            switch self {
            case .empty: "The display name is empty."
            case .tooLong: "The display name is longer than \(DisplayName.maximumLength) characters."
            case .tooManyBytes: "The display name is longer than \(DisplayName.maximumByteCount) bytes in UTF-8."
            case .controlCharacter: "The display name contains a control character or a line break."
            }
        }
    }

    /// Decodes and validates a name from a string.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let raw = try container.decode(String.self)
        do {
            try self.init(raw)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
        }
    }

    /// Encodes the name as a string.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }
}
