import Foundation

/// A validated e-mail address.
///
/// The address keeps the spelling the user typed (trimmed, Unicode NFC), because that is what people see
/// and what mail is sent to. Uniqueness and lookups use ``canonical``, so that every spelling of one mailbox
/// is one account: `Ada@Example.com` and `ada@example.COM`, `idn@bücher.de` and `idn@xn--bcher-kva.de`,
/// `fd@ｅｘａｍｐｌｅ.com` and `fd@example.com`. The canonical form is the local part under Unicode
/// NFKC_Casefold and the domain as IDNA A-labels after UTS #46 mapping (see ``canonical``).
///
/// Validation is practical rather than a full RFC 5322 parser: one `@`; a local part of 1–64 octets made of
/// letters, digits, the characters `!#$%&'*+/=?^_{|}~-` and the backtick, and non-leading, non-trailing, non-consecutive dots; a domain of
/// at least two dot-separated labels of letters, digits and inner hyphens (Unicode letters are allowed for
/// internationalised addresses) that IDNA (UTS #46) accepts and whose A-label form is a DNS name (labels of at
/// most 63 octets, 253 in all); an `xn--` label must be the A-label of a valid U-label; at most 254 UTF-8
/// octets in all, as typed and in canonical form; no whitespace or control characters. Quoted local parts and
/// IP-literal domains are refused: real sign-ups do not use them and many mail systems reject them.
///
/// Two addresses are equal (`==`) when their spelling is equal; compare ``canonical`` to ignore case and
/// the other differences of spelling that name one mailbox.
public struct EmailAddress: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The address as the user spelled it (trimmed and NFC-normalised).
    public let value: String
    /// The form that uniqueness and lookups use: the same string for every spelling of one mailbox.
    ///
    /// The local part is mapped by Unicode's toNFKC_Casefold (compatibility normalisation, full case folding,
    /// default-ignorable code points removed), so `ß`/`ss`, `ς`/`σ` and fullwidth letters compare equal; the
    /// domain is the IDNA A-label form after UTS #46 (nontransitional) mapping, lower case, so `Bücher.DE`
    /// and `xn--bcher-kva.de` compare equal. For an ASCII address without an `xn--` label this is the
    /// address in lower case. See ``EmailAddress`` for how it is computed and why.
    public let canonical: String

    /// The longest address accepted, in UTF-8 octets (RFC 5321's path limit less the angle brackets).
    public static let maximumLength = 254
    /// The longest local part accepted, in UTF-8 octets.
    public static let maximumLocalPartLength = 64

    /// Validates and normalises an address.
    ///
    /// - Throws: ``UserError/invalidEmail(_:)`` with the ``Problem`` found.
    public init(_ raw: String) throws(UserError) {
        // Visible ASCII (most addresses) has nothing to trim and is its own NFC form: skip that work; the
        // rules below still apply.
        let value =
            raw.utf8.allSatisfy({ (0x21...0x7E).contains($0) })
            ? raw : raw.trimmingCharacters(in: .whitespacesAndNewlines).precomposedStringWithCanonicalMapping
        if let problem = Self.problem(in: value) {
            throw .invalidEmail(problem)
        }
        self.value = value
        self.canonical = try Self.canonicalForm(of: value)
    }

    /// Re-creates an address this package validated before, from a store it wrote; no validation.
    package init(trustedValue value: String, canonical: String) {
        self.value = value
        self.canonical = canonical
    }

    /// The address as spelled.
    public var description: String { value }

    /// What is wrong with an address that was refused.
    public enum Problem: String, Sendable, Hashable, Codable, CustomStringConvertible {
        /// Nothing but whitespace was given.
        case empty
        /// Longer than ``EmailAddress/maximumLength`` UTF-8 octets, as typed (after NFC) or in canonical form.
        case tooLong
        /// A space, tab, line break or other control or separator character.
        case invalidCharacter
        /// No `@`.
        case missingAtSign
        /// More than one `@`.
        case multipleAtSigns
        /// Nothing before the `@`.
        case emptyLocalPart
        /// The part before the `@` is longer than ``EmailAddress/maximumLocalPartLength`` octets.
        case localPartTooLong
        /// The part before the `@` has a character that is not allowed, or a misplaced dot, or it is nothing
        /// but characters that Unicode ignores in comparisons.
        case invalidLocalPart
        /// Nothing after the `@`.
        case emptyDomain
        /// The part after the `@` is not a host name of at least two labels, IDNA (UTS #46) refuses it, its
        /// A-label form is not a DNS name (a label over 63 octets, over 253 in all), or an `xn--` label is not
        /// the A-label of a valid U-label.
        case invalidDomain

        /// A sentence a person can read; it never repeats the address.
        public var description: String {
            switch self {
            case .empty: "The e-mail address is empty."
            case .tooLong: "The e-mail address is longer than \(EmailAddress.maximumLength) bytes in UTF-8."
            case .invalidCharacter: "The e-mail address contains whitespace or a control character."
            case .missingAtSign: "The e-mail address has no '@'."
            case .multipleAtSigns: "The e-mail address has more than one '@'."
            case .emptyLocalPart: "The e-mail address has nothing before the '@'."
            case .localPartTooLong:
                "The part before the '@' is longer than \(EmailAddress.maximumLocalPartLength) bytes in UTF-8."
            case .invalidLocalPart: "The part before the '@' contains a character that is not allowed."
            case .emptyDomain: "The e-mail address has nothing after the '@'."
            case .invalidDomain: "The part after the '@' is not a valid domain name."
            }
        }
    }

    /// Decodes and validates an address from a string.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let raw = try container.decode(String.self)
        do {
            try self.init(raw)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
        }
    }

    /// Encodes the address as spelled.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }

    private static func problem(in value: String) -> Problem? {
        var value = value
        let ascii: Problem?? = value.withUTF8 { utf8 in
            utf8.allSatisfy { $0 < 0x80 } ? .some(asciiProblem(utf8)) : nil
        }
        if let decided = ascii { return decided }
        return unicodeProblem(in: value)
    }

    /// ``problem(in:)`` for an ASCII address, byte by byte: the same rules in the same order, without the
    /// substrings, splits and scalar properties the general path needs (which showed in import profiles).
    static func asciiProblem(_ bytes: UnsafeBufferPointer<UInt8>) -> Problem? {
        if bytes.isEmpty { return .empty }
        if bytes.count > maximumLength { return .tooLong }
        var at: Int?
        var atCount = 0
        for (index, byte) in bytes.enumerated() {
            if byte <= 0x20 || byte == 0x7F { return .invalidCharacter }
            if byte == UInt8(ascii: "@") {
                atCount += 1
                if at == nil { at = index }
            }
        }
        guard let at else { return .missingAtSign }
        if atCount > 1 { return .multipleAtSigns }
        let local = UnsafeBufferPointer(rebasing: bytes[..<at])
        let domain = UnsafeBufferPointer(rebasing: bytes[(at + 1)...])
        if local.isEmpty { return .emptyLocalPart }
        if local.count > maximumLocalPartLength { return .localPartTooLong }
        let dot = UInt8(ascii: ".")
        if local.first == dot || local.last == dot { return .invalidLocalPart }
        var previous: UInt8 = 0
        for byte in local {
            if byte == dot, previous == dot { return .invalidLocalPart }
            if !(isASCIIAlphanumeric(byte) || byte == dot || asciiAtext.contains(byte)) { return .invalidLocalPart }
            previous = byte
        }
        if domain.isEmpty { return .emptyDomain }
        if !isValidASCIIDomain(domain) { return .invalidDomain }
        return nil
    }

    /// Whether ASCII bytes are a host name of at least two labels, each 1–63 letters, digits and inner
    /// hyphens, 253 octets in all, the last not all digits. The A-label form of every accepted domain is one.
    static func isValidASCIIDomain(_ domain: UnsafeBufferPointer<UInt8>) -> Bool {
        if domain.count > 253 { return false }
        let dot = UInt8(ascii: ".")
        let hyphen = UInt8(ascii: "-")
        var labels = 0
        var labelStart = 0
        var lastLabelAllDigits = true
        for index in 0...domain.count {
            guard index == domain.count || domain[index] == dot else { continue }
            let label = UnsafeBufferPointer(rebasing: domain[labelStart..<index])
            labels += 1
            guard !label.isEmpty, label.count <= 63, label.first != hyphen, label.last != hyphen,
                label.allSatisfy({ isASCIIAlphanumeric($0) || $0 == hyphen })
            else { return false }
            lastLabelAllDigits = label.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
            labelStart = index + 1
        }
        return labels >= 2 && !lastLabelAllDigits
    }

    private static let asciiAtext = Set("!#$%&'*+/=?^_`{|}~-".utf8)

    private static func isASCIIAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    /// The rules for any address (the ASCII path above must agree with it: a test compares them).
    static func unicodeProblem(in value: String) -> Problem? {
        if value.isEmpty { return .empty }
        if value.utf8.count > maximumLength { return .tooLong }
        var atCount = 0
        for scalar in value.unicodeScalars {
            if scalar == "@" { atCount += 1 }
            if scalar.isASCII {
                // The same answer as the Unicode properties below, without looking them up.
                if scalar.value <= 0x20 || scalar.value == 0x7F { return .invalidCharacter }
            } else if scalar.properties.isWhitespace || isControlOrSeparator(scalar) {
                return .invalidCharacter
            }
        }
        if atCount == 0 { return .missingAtSign }
        if atCount > 1 { return .multipleAtSigns }
        // Split at the scalar, not the Character: "@" followed by a combining scalar (a skin-tone modifier)
        // is one Character that is not "@" (the fuzzer's ")@🏻" crashed a Character search here).
        let scalars = value.unicodeScalars
        let at = scalars.firstIndex(of: "@")!
        let local = Substring(scalars[..<at])
        let domain = Substring(scalars[scalars.index(after: at)...])
        if local.isEmpty { return .emptyLocalPart }
        if local.utf8.count > maximumLocalPartLength { return .localPartTooLong }
        if !isValidLocalPart(local) { return .invalidLocalPart }
        if domain.isEmpty { return .emptyDomain }
        if !isValidDomain(domain) { return .invalidDomain }
        return nil
    }

    private static func isControlOrSeparator(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator, .spaceSeparator, .surrogate, .unassigned,
            .privateUse:
            true
        default:
            false
        }
    }

    private static let atext = Set("!#$%&'*+/=?^_`{|}~-".unicodeScalars)

    private static func isValidLocalPart(_ local: Substring) -> Bool {
        // Byte-wise: Foundation's `contains(_:)` for a substring (through NSString) showed in import profiles.
        if local.first == "." || local.last == "." { return false }
        var previousWasDot = false
        for byte in local.utf8 {
            if byte == UInt8(ascii: "."), previousWasDot { return false }
            previousWasDot = byte == UInt8(ascii: ".")
        }
        return local.unicodeScalars.allSatisfy { scalar in
            if scalar.isASCII {
                return isASCIIAlphanumeric(scalar) || scalar == "." || atext.contains(scalar)
            }
            return isUnicodeWordScalar(scalar)
        }
    }

    private static func isValidDomain(_ domain: Substring) -> Bool {
        if domain.utf8.count > 253 { return false }
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2 else { return false }
        for label in labels {
            // An ASCII label is its own A-label: at most 63 octets. A label with other characters is measured
            // in its A-label form (its UTF-8 length says little about that), in canonicalForm(of:).
            guard !label.isEmpty, label.first != "-", label.last != "-" else { return false }
            if label.utf8.count > 63, label.utf8.allSatisfy({ $0 < 0x80 }) { return false }
            let ok = label.unicodeScalars.allSatisfy { scalar in
                scalar.isASCII ? (isASCIIAlphanumeric(scalar) || scalar == "-") : isUnicodeWordScalar(scalar)
            }
            guard ok else { return false }
        }
        // A top-level domain is never all digits (that would be an IP address written without brackets).
        return !labels.last!.allSatisfy(\.isNumber)
    }

    private static func isASCIIAlphanumeric(_ scalar: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
    }

    private static func isUnicodeWordScalar(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter, .nonspacingMark,
            .spacingMark, .enclosingMark, .decimalNumber, .letterNumber, .otherNumber:
            true
        default:
            false
        }
    }
}
