import Foundation
import Testing
@testable import UserDomain

@Suite("EmailAddress")
struct EmailAddressTests {
    private func problem(_ raw: String) -> EmailAddress.Problem? {
        do {
            _ = try EmailAddress(raw)
            return nil
        } catch {
            guard case .invalidEmail(let problem) = error else { return nil }
            return problem
        }
    }

    @Test("keeps the spelling, trims, and canonicalises to lower case")
    func spellingAndCanonical() throws {
        let email = try EmailAddress("  Ada.Lovelace@Example.COM \n")
        #expect(email.value == "Ada.Lovelace@Example.COM")
        #expect(email.canonical == "ada.lovelace@example.com")
        #expect(email.description == "Ada.Lovelace@Example.COM")
    }

    @Test("equality is by spelling; canonical forms compare without case")
    func equality() throws {
        let a = try EmailAddress("A@x.io")
        let b = try EmailAddress("a@X.IO")
        #expect(a != b)
        #expect(a.canonical == b.canonical)
    }

    @Test(
        "accepts practical addresses",
        arguments: [
            "a@b.co", "first.last@example.com", "user+tag@sub.example.org", "o'brien@example.ie",
            "x_y-z@my-domain.example", "1234@example.com", "josé@exämple.com", "用户@例子.广告", "a@b.c1",
            "!#$%&'*+/=?^_`{|}~-@example.com",
        ])
    func accepts(_ raw: String) throws {
        _ = try EmailAddress(raw)
    }

    @Test(
        "refuses with the right reason",
        arguments: [
            ("", EmailAddress.Problem.empty),
            ("   \t\n ", .empty),
            ("plainaddress", .missingAtSign),
            ("a@b@example.com", .multipleAtSigns),
            ("@example.com", .emptyLocalPart),
            ("user@", .emptyDomain),
            ("us er@example.com", .invalidCharacter),
            ("user@exa mple.com", .invalidCharacter),
            ("user\u{0}@example.com", .invalidCharacter),
            ("user\u{7}@example.com", .invalidCharacter),
            ("user@example.com\u{200B}x", .invalidCharacter),
            (".user@example.com", .invalidLocalPart),
            ("user.@example.com", .invalidLocalPart),
            ("us..er@example.com", .invalidLocalPart),
            ("us(er@example.com", .invalidLocalPart),
            ("\"quoted\"@example.com", .invalidLocalPart),
            ("user@localhost", .invalidDomain),
            ("user@example..com", .invalidDomain),
            ("user@.example.com", .invalidDomain),
            ("user@example.com.", .invalidDomain),
            ("user@-example.com", .invalidDomain),
            ("user@example-.com", .invalidDomain),
            ("user@exa_mple.com", .invalidDomain),
            ("user@[127.0.0.1]", .invalidDomain),
            ("user\u{7F}@example.com", .invalidCharacter),
            // "@" and a modifier form one Character that is not "@" (found by the API fuzzer: it crashed).
            (")@\u{1F3FB}", .invalidLocalPart),
            ("user@127.0.0.1", .invalidDomain),
        ])
    func refuses(_ raw: String, _ expected: EmailAddress.Problem) {
        #expect(problem(raw) == expected)
    }

    @Test("the ASCII fast path gives the general rules' answer, for 20,000 random ASCII addresses")
    func asciiPathAgrees() {
        // Characters that each rule cares about, with a bias to the shapes of real addresses.
        let alphabet = Array("aZ09.-_+@@..--!#(\" \u{7F}\t")
        var generator = SplitMix64(seed: 20_261_127)
        var disagreements: [String] = []
        var outcomes: Set<EmailAddress.Problem?> = []
        for _ in 0..<20_000 {
            let length = Int(generator.next() % 24)
            var text = String((0..<length).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] })
            if generator.next() % 3 == 0 { text += "@example.com" }
            if generator.next() % 5 == 0 { text = String(repeating: "a", count: Int(generator.next() % 80)) + text }
            let fast = text.utf8.withContiguousStorageIfAvailable { EmailAddress.asciiProblem($0) }
            let general = EmailAddress.unicodeProblem(in: text)
            if fast != general { disagreements.append(text) }
            outcomes.insert(general)
        }
        #expect(disagreements.isEmpty, "\(disagreements.prefix(5))")
        // The draw reaches valid addresses and most of the ways to be invalid.
        #expect(outcomes.contains(nil) && outcomes.count >= 8, "\(outcomes)")
    }

    @Test("254 octets are accepted, 255 are not")
    func lengthLimit() throws {
        let local = String(repeating: "a", count: 64)
        let domain253 = [63, 63, 63, 61].map { String(repeating: "d", count: $0) }.joined(separator: ".")
        #expect(domain253.utf8.count == 253)
        // 64 + 1 + 189 = 254
        let domain189 = [63, 63, 61].map { String(repeating: "d", count: $0) }.joined(separator: ".")
        let at254 = local + "@" + domain189
        #expect(at254.utf8.count == 254)
        #expect(try EmailAddress(at254).value == at254)
        let at255 = local + "@" + domain189 + "d"
        #expect(at255.utf8.count == 255)
        #expect(problem(at255) == .tooLong)
    }

    @Test("the local part holds at most 64 octets, a label at most 63")
    func partLimits() {
        #expect(problem(String(repeating: "a", count: 64) + "@example.com") == nil)
        #expect(problem(String(repeating: "a", count: 65) + "@example.com") == .localPartTooLong)
        #expect(problem("a@" + String(repeating: "b", count: 63) + ".com") == nil)
        #expect(problem("a@" + String(repeating: "b", count: 64) + ".com") == .invalidDomain)
    }

    @Test("composed and decomposed spellings are the same address")
    func unicodeNormalisation() throws {
        let composed = try EmailAddress("jos\u{E9}@example.com")
        let decomposed = try EmailAddress("jose\u{301}@example.com")
        #expect(composed == decomposed)
        #expect(composed.canonical == decomposed.canonical)
        #expect(decomposed.value.unicodeScalars.count == "jos\u{E9}@example.com".unicodeScalars.count)
    }

    @Test("mixed-case non-ASCII addresses canonicalise: local part folded, domain as A-labels")
    func unicodeCase() throws {
        #expect(try EmailAddress("ÉLODIE@EXÄMPLE.COM").canonical == "élodie@xn--exmple-cua.com")
        #expect(try EmailAddress("ÉLODIE@EXÄMPLE.COM").value == "ÉLODIE@EXÄMPLE.COM")
    }

    private func canonical(_ raw: String) throws -> String {
        try EmailAddress(raw).canonical
    }

    @Test(
        "one mailbox, one canonical form: IDNA domains, fullwidth, case folding",
        arguments: [
            ("idn@bücher.de", "idn@xn--bcher-kva.de"),
            ("idn@Bücher.DE", "idn@xn--bcher-kva.de"),
            ("idn@xn--bcher-kva.de", "idn@xn--bcher-kva.de"),
            ("idn@XN--BCHER-KVA.DE", "idn@xn--bcher-kva.de"),
            ("idn@Xn--Bcher-kva.De", "idn@xn--bcher-kva.de"),
            ("fd@ｅｘａｍｐｌｅ.com", "fd@example.com"),
            ("ｆｄ@example.com", "fd@example.com"),
            ("ΣΊΣΥΦΟΣ@example.gr", "σίσυφοσ@example.gr"),
            ("σίσυφος@example.gr", "σίσυφοσ@example.gr"),
            ("ςίσυφοσ@example.gr", "σίσυφοσ@example.gr"),
            ("Straße@example.de", "strasse@example.de"),
            ("STRASSE@example.de", "strasse@example.de"),
            ("ﬁle@example.com", "file@example.com"),
            ("a\u{FE0F}b@example.com", "ab@example.com"),
            // Nontransitional UTS #46 (IDNA2008): ß and ς in a domain are their own letters, not ss and σ.
            ("a@faß.de", "a@xn--fa-hia.de"),
            ("a@xn--fa-hia.de", "a@xn--fa-hia.de"),
            ("a@fass.de", "a@fass.de"),
            ("a@ςσ.gr", "a@xn--3xac.gr"),
            ("a@σσ.gr", "a@xn--4xaa.gr"),
            ("a@ΣΣ.gr", "a@xn--4xaa.gr"),
            ("用户@例子.广告", "用户@xn--fsqu00a.xn--4rr70v"),
            // Mixed scripts are not refused (that is confusable detection, UTS #39), but a Cyrillic "а" is
            // another domain than a Latin "a", and stays one.
            ("a@pаypal.com", "a@xn--pypal-4ve.com"),
        ])
    func canonicalForms(_ raw: String, _ expected: String) throws {
        #expect(try canonical(raw) == expected)
    }

    @Test("the typed spelling is kept while the canonical form changes")
    func spellingIsKept() throws {
        let email = try EmailAddress("Idn@Bücher.DE")
        #expect(email.value == "Idn@Bücher.DE")
        #expect(email.description == "Idn@Bücher.DE")
        #expect(email.canonical == "idn@xn--bcher-kva.de")
        #expect(email != (try EmailAddress("idn@xn--bcher-kva.de")), "equality stays by spelling")
    }

    @Test("the canonical form is its own canonical form")
    func canonicalIsIdempotent() throws {
        for raw in ["ΣΊΣΥΦΟΣ@Bücher.DE", "ﬁle@ｅｘａｍｐｌｅ.com", "Straße@faß.de", "İstanbul@example.com", "ǅemal@ǅ.com"] {
            let once = try canonical(raw)
            #expect(try canonical(once) == once, "\(raw)")
        }
    }

    @Test(
        "domains IDNA refuses, and xn-- labels that are not A-labels of valid U-labels, are invalid",
        arguments: [
            "a@xn--zz.de",  // not Punycode that decodes
            "a@xn--zz",
            "a@xn--a.de",
            "a@xn--bcher-kva-.de",
            "a@xn--ss-bcher-kva.de",
            "a@xn--zz.bücher.de",  // a bad A-label next to a U-label
            "a@xn--tda.xn--zz.de",
            "a@\u{301}a.com",  // a label that starts with a combining mark
            "a@abc\u{661}.com",  // the Bidi rule: Arabic-Indic digit after Latin letters
            "a@ｅｘ.１２３",  // maps to an all-digit top-level domain
        ])
    func idnaRefusals(_ raw: String) {
        #expect(problem(raw) == .invalidDomain, "\(raw)")
    }

    @Test("a label is measured in its A-label form: at most 63 octets after encoding")
    func aLabelLength() throws {
        // 63 octets of UTF-8 whose A-label is longer than 63.
        let long = "ä一ö二ü三ß四é五è六ê七ë八à九ç十ñ百ō千ąz"
        #expect(long.utf8.count <= 63)
        #expect(problem("a@\(long).de") == .invalidDomain)
        // 64 octets of UTF-8 whose A-label is 38.
        let short = String(repeating: "ü", count: 32)
        #expect(short.utf8.count == 64)
        #expect(try canonical("a@\(short).de") == "a@xn--tdaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.de")
    }

    @Test("a local part of only default-ignorable code points is refused")
    func ignorableLocalPart() {
        #expect(problem("\u{3164}@example.com") == .invalidLocalPart)
        #expect(problem("\u{FE0F}\u{FE0F}@example.com") == .invalidLocalPart)
    }

    @Test("lengths are UTF-8 octets after NFC, also for one character of many combining marks")
    func combiningMarks() throws {
        // One grapheme cluster (one "character") of 2,000 combining marks: 4,001 octets.
        let cluster = "a" + String(repeating: "\u{301}", count: 2_000)
        #expect(cluster.count == 1)
        #expect(problem(cluster + "@example.com") == .tooLong)
        // "x" and 31 marks (no precomposed form to shrink it): 63 octets, one character, within the local part's 64.
        let small = "x" + String(repeating: "\u{301}", count: 31)
        #expect(small.count == 1)
        #expect(try EmailAddress(small + "@example.com").value.utf8.count == 63 + 12)
        #expect(problem("x" + String(repeating: "\u{301}", count: 32) + "@example.com") == .localPartTooLong)
        // Decomposed input is measured after NFC (é is 2 octets, e + U+0301 3): 64 é fill the local part.
        let decomposed = String(repeating: "e\u{301}", count: 32)
        #expect(decomposed.utf8.count == 96)
        #expect(try EmailAddress(decomposed + "@example.com").value.utf8.count == 64 + 12)
    }

    @Test("a canonical form longer than 254 octets is refused")
    func canonicalLength() {
        // U+FDFA is 3 octets and its compatibility decomposition 33: 21 of them fit the local part (63) but
        // not the canonical form.
        #expect(problem(String(repeating: "\u{FDFA}", count: 21) + "@example.com") == .tooLong)
        #expect(problem(String(repeating: "\u{FDFA}", count: 2) + "@example.com") == nil)
    }

    @Test("the ASCII canonical fast path gives the general canonical form, for 20,000 random ASCII addresses")
    func asciiCanonicalAgrees() {
        // Mixed case, digits, inner hyphens, and labels that start with "xn--" in any case: random Punycode
        // (mostly invalid) and real A-labels.
        let alphabet = Array("aZxXnNsS09-")
        let aLabels = ["xn--bcher-kva", "XN--BCHER-KVA", "Xn--Fa-Hia", "xn--zz", "xn--4xaa", "xn--ss-bcher-kva"]
        var generator = SplitMix64(seed: 20_260_513)
        var disagreements: [String] = []
        var (compared, refusedACE, acceptedACE) = (0, 0, 0)
        func label() -> String {
            let length = 1 + Int(generator.next() % 10)
            var text = String((0..<length).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] })
            switch generator.next() % 6 {
            case 0: text = ["xn--", "XN--", "xN--", "Xn--"][Int(generator.next() % 4)] + text
            case 1: text = aLabels[Int(generator.next() % UInt64(aLabels.count))]
            default: break
            }
            return text
        }
        for _ in 0..<20_000 {
            let labels = (0..<(1 + Int(generator.next() % 3))).map { _ in label() } + ["com"]
            let text = label() + "@" + labels.joined(separator: ".")
            guard EmailAddress.unicodeProblem(in: text) == nil else { continue }
            let general = try? EmailAddress.generalCanonicalForm(of: text)
            if let fast = EmailAddress.asciiCanonicalForm(of: text) {
                compared += 1
                if fast != general { disagreements.append(text) }
            } else if let general {
                // An xn-- label takes the general path: a valid one gives the lower-cased address.
                acceptedACE += 1
                if general != text.lowercased() { disagreements.append(text) }
            } else {
                refusedACE += 1
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements.prefix(5))")
        #expect(compared > 1_000 && acceptedACE > 100 && refusedACE > 100, "\(compared) \(acceptedACE) \(refusedACE)")
    }

    @Test("descriptions never repeat the address")
    func safeDescriptions() {
        for problem in [
            EmailAddress.Problem.empty, .tooLong, .invalidCharacter, .missingAtSign, .multipleAtSigns,
            .emptyLocalPart, .localPartTooLong, .invalidLocalPart, .emptyDomain, .invalidDomain,
        ] {
            #expect(!problem.description.isEmpty)
            #expect(UserError.invalidEmail(problem).description == problem.description)
        }
    }

    @Test("decoding validates")
    func decoding() throws {
        let decoded = try JSONDecoder().decode([EmailAddress].self, from: Data(#"["A@b.io"]"#.utf8))
        #expect(decoded.first?.value == "A@b.io")
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode([EmailAddress].self, from: Data(#"["nope"]"#.utf8))
        }
    }
}
