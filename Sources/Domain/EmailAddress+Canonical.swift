import Foundation

// The canonical form of an address: what uniqueness is enforced on.
//
// Two spellings of one mailbox must give one string, or one mailbox gets two accounts:
//
// - The domain is compared as DNS compares it: as IDNA A-labels, in lower case, after UTS #46 mapping
//   (nontransitional, as IDNA2008 and today's browsers and mail systems: `ß` and `ς` stay themselves and
//   encode as their own A-labels). `bücher.de`, `Bücher.DE`, `xn--bcher-kva.de` and `XN--BCHER-KVA.de` are
//   one domain, and so are `ｅｘａｍｐｌｅ.com` and `example.com`. An `xn--` label typed by the user is only
//   accepted when it is the A-label of a valid U-label (it decodes, and encoding what it decodes to gives it
//   back): otherwise `xn--zz.de` and the like would be names no mail system resolves, and a label that
//   decodes to the same U-label as another by a non-canonical encoding would be a second account.
//
// - The local part is compared under Unicode's toNFKC_Casefold (compatibility normalisation, full case
//   folding, compatibility normalisation again, default-ignorable code points removed): `ς`/`σ`/`Σ`,
//   `ß`/`ss`, fullwidth and plain letters, and a letter with and without a variation selector are one local
//   part. RFC 5321 lets the receiving system decide whether local parts are case-sensitive; in practice no
//   one runs two mailboxes that differ in case, and treating them as one is the safe side for an account
//   system (one account per person, no look-alike twin).
//
// How: with public Foundation API, which is ICU-backed on Linux (swift-foundation) and on Darwin.
// `URLComponents.host` = U-label, then `encodedHost`, is UTS #46 ToASCII (nontransitional, with the Bidi and
// ContextJ checks); `encodedHost` = A-label, then `host`, is ToUnicode, `nil` when a label is not valid
// Punycode or not a valid U-label. Foundation applies URL host rules (WHATWG's "not strict"): it lets empty
// labels, long labels and misplaced hyphens through, and when ToASCII fails it falls back to percent-encoding
// instead of failing. So the result is checked against the ASCII host-name rules afterwards (letters, digits,
// inner hyphens, labels of 1–63 octets, 253 in all): a percent sign, an empty or long label fails there.
// `String.folding(options: .caseInsensitive, locale: nil)` is full Unicode case folding (ICU's, not
// locale-tailored) and `precomposedStringWithCompatibilityMapping` is NFKC.
//
// Not used: the toolchain's `_FoundationICU` module (`swift_uidna_*`). It would give ICU's UIDNA directly,
// with its error bits, but an underscored module is not API (it can change or go with any toolchain, and it
// does not exist on Darwin), and the public API above does the same mapping. Nor a Punycode/UTS #46 table
// of our own: the mapping table changes with Unicode versions and ICU keeps it.
//
// Stability: the canonical form is stored (unique index), so it must be what later versions compute too.
// Unassigned code points are refused by validation, so new Unicode versions only add mappings for characters
// no stored address has; a change of an assigned character's mapping (rare in UTS #46 and case folding) would
// need a schema migration that recomputes the stored forms, as version 4 of the SQL schemas does.
//
// Cost: most addresses are ASCII without an `xn--` label; for them ASCII lower-casing is already both
// NFKC_Casefold and the A-label form, and the work is one scan and `lowercased()`. The general path (a
// non-ASCII address or an `xn--` label) costs a few ICU calls.
extension EmailAddress {
    /// The canonical form of an address that passed the syntax rules (``problem(in:)``).
    ///
    /// - Throws: ``UserError/invalidEmail(_:)``: ``Problem/invalidDomain`` when IDNA refuses the domain or its
    ///   A-label form is not a DNS name, ``Problem/invalidLocalPart`` when the local part is nothing but
    ///   default-ignorable code points, ``Problem/tooLong`` when the canonical form exceeds
    ///   ``maximumLength`` octets.
    static func canonicalForm(of value: String) throws(UserError) -> String {
        if let fast = asciiCanonicalForm(of: value) { return fast }
        return try generalCanonicalForm(of: value)
    }

    /// The canonical form of an ASCII address whose domain has no `xn--` label (its lower-cased self), or
    /// `nil` for any other address.
    static func asciiCanonicalForm(of value: String) -> String? {
        let utf8 = value.utf8
        guard utf8.allSatisfy({ $0 < 0x80 }), let at = utf8.firstIndex(of: UInt8(ascii: "@")),
            !hasACELabel(utf8[utf8.index(after: at)...])
        else { return nil }
        return value.lowercased()
    }

    /// The canonical form of any address that passed the syntax rules; for an ASCII address without an
    /// `xn--` label it must equal ``asciiCanonicalForm(of:)`` (a randomised test compares them).
    static func generalCanonicalForm(of value: String) throws(UserError) -> String {
        let scalars = value.unicodeScalars
        guard let at = scalars.firstIndex(of: "@") else { throw .invalidEmail(.missingAtSign) }
        let local = foldedLocalPart(String(scalars[..<at]))
        if local.isEmpty { throw .invalidEmail(.invalidLocalPart) }
        guard let domain = aLabelDomain(String(scalars[scalars.index(after: at)...])) else {
            throw .invalidEmail(.invalidDomain)
        }
        let canonical = local + "@" + domain
        if canonical.utf8.count > maximumLength { throw .invalidEmail(.tooLong) }
        return canonical
    }

    /// toNFKC_Casefold of a local part: NFKC, full case folding, default-ignorable code points removed, NFKC.
    static func foldedLocalPart(_ local: String) -> String {
        let folded = local.precomposedStringWithCompatibilityMapping.folding(options: .caseInsensitive, locale: nil)
        var kept = String.UnicodeScalarView()
        kept.append(contentsOf: folded.unicodeScalars.lazy.filter { !$0.properties.isDefaultIgnorableCodePoint })
        return String(kept).precomposedStringWithCompatibilityMapping
    }

    /// The lower-case A-label form of a domain (UTS #46 ToASCII, nontransitional), or `nil` when IDNA
    /// refuses it, the result is not an ASCII host name, or an `xn--` label is not the A-label of a valid
    /// U-label.
    static func aLabelDomain(_ domain: String) -> String? {
        let encoded: String
        if domain.utf8.allSatisfy({ $0 < 0x80 }) {
            encoded = domain.lowercased()
        } else {
            var components = URLComponents()
            components.host = domain
            guard let host = components.encodedHost else { return nil }
            encoded = host.lowercased()
        }
        var encodedCopy = encoded
        guard encodedCopy.withUTF8({ isValidASCIIDomain($0) }) else { return nil }
        if hasACELabel(encoded.utf8) {
            // Decode (ToUnicode: nil for bad Punycode or an invalid U-label) and encode again: the A-labels
            // must come back unchanged, or they are not the canonical spelling of their U-labels.
            var decoding = URLComponents()
            decoding.encodedHost = encoded
            guard let unicode = decoding.host, !unicode.utf8.allSatisfy({ $0 < 0x80 }) else { return nil }
            var encoding = URLComponents()
            encoding.host = unicode
            guard encoding.encodedHost?.lowercased() == encoded else { return nil }
        }
        return encoded
    }

    /// Whether a domain, as UTF-8 bytes, has a label that starts with `xn--` (the ACE prefix), in any letter
    /// case.
    static func hasACELabel(_ domain: some Collection<UInt8>) -> Bool {
        let prefix = acePrefix
        var matched = 0  // bytes of the prefix matched at the start of this label, or -1 past its start
        for byte in domain {
            if byte == UInt8(ascii: ".") {
                matched = 0
            } else if matched >= 0 {
                let lower = (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte | 0x20 : byte
                guard lower == prefix[matched] else {
                    matched = -1
                    continue
                }
                matched += 1
                if matched == prefix.count { return true }
            }
        }
        return false
    }

    private static let acePrefix: [UInt8] = Array("xn--".utf8)
}
