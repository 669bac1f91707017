import Foundation
import Testing
import UserDomain

@Suite("DisplayName")
struct DisplayNameTests {
    private func problem(_ raw: String) -> DisplayName.Problem? {
        do {
            _ = try DisplayName(raw)
            return nil
        } catch {
            guard case .invalidDisplayName(let problem) = error else { return nil }
            return problem
        }
    }

    @Test("trims surrounding whitespace")
    func trims() throws {
        #expect(try DisplayName("  Ada Lovelace \n").value == "Ada Lovelace")
    }

    @Test("empty and whitespace-only names are refused", arguments: ["", " ", "\t\n", "\u{3000}"])
    func empty(_ raw: String) {
        #expect(problem(raw) == .empty)
    }

    @Test("1 and 100 characters are accepted, 101 are not")
    func length() throws {
        #expect(try DisplayName("A").value == "A")
        #expect(problem(String(repeating: "x", count: 100)) == nil)
        #expect(problem(String(repeating: "x", count: 101)) == .tooLong)
    }

    @Test("length counts characters a person sees, not scalars or bytes")
    func graphemes() throws {
        // 100 family emoji: each is 7 scalars and 25 UTF-8 bytes, one character.
        let family = "👨‍👩‍👧‍👦"
        #expect(problem(String(repeating: family, count: 100)) == nil)
        #expect(problem(String(repeating: family, count: 101)) == .tooLong)
        // 100 decomposed "é" are 200 scalars before NFC, 100 characters.
        #expect(problem(String(repeating: "e\u{301}", count: 100)) == nil)
    }

    @Test(
        "control characters are refused",
        arguments: [
            "Ada\nLovelace", "Ada\tLovelace", "Ada\u{0}", "Ada\u{7F}x", "Ada\u{85}x", "A\u{2028}B", "A\u{2029}B",
            "A\u{1B}[31mB",
        ])
    func controls(_ raw: String) {
        #expect(problem(raw) == .controlCharacter)
    }

    @Test("composed and decomposed names are equal after NFC")
    func normalisation() throws {
        let composed = try DisplayName("Zo\u{EB}")
        let decomposed = try DisplayName("Zoe\u{308}")
        #expect(composed == decomposed)
        #expect(decomposed.value.unicodeScalars.count == 3)
    }

    @Test("mixed case is kept")
    func mixedCase() throws {
        #expect(try DisplayName("dE lA cRuZ").value == "dE lA cRuZ")
    }

    @Test("zero-width joiners inside emoji are allowed")
    func joiners() throws {
        #expect(try DisplayName("Dev 👩‍💻").value == "Dev 👩‍💻")
    }
}
