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

    @Test("mixed-case non-ASCII addresses canonicalise")
    func unicodeCase() throws {
        #expect(try EmailAddress("ÉLODIE@EXÄMPLE.COM").canonical == "élodie@exämple.com")
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
