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
        // 16 family emoji: each is 7 scalars and 25 UTF-8 bytes, one character (400 bytes in all).
        let family = "👨‍👩‍👧‍👦"
        #expect(problem(String(repeating: family, count: 16)) == nil)
        #expect(try DisplayName(String(repeating: family, count: 16)).value.count == 16)
        #expect(problem(String(repeating: family, count: 101)) == .tooLong)
        // 100 decomposed "é" are 200 scalars before NFC, 100 characters.
        #expect(problem(String(repeating: "e\u{301}", count: 100)) == nil)
    }

    @Test("100 characters of many combining marks each are refused by the byte bound")
    func combiningMarkStacks() {
        // One character is "A" and 300 combining marks: 601 bytes. 100 of them were 60 KB.
        let stack = "A" + String(repeating: "\u{301}\u{302}\u{303}", count: 100)
        #expect(stack.count == 1)
        #expect(problem(String(repeating: stack, count: 100)) == .tooManyBytes)
        #expect(problem(stack) == .tooManyBytes)
        #expect(problem(String(repeating: "e\u{301}", count: 100) + "\u{302}") == nil, "one more mark, 202 bytes")
    }

    @Test("100 characters of one code point each are accepted in any script", arguments: ["中", "😀", "ß", "𠀀"])
    func wideCharacters(_ character: String) throws {
        let name = String(repeating: character, count: 100)
        #expect(name.utf8.count <= DisplayName.maximumByteCount)
        #expect(try DisplayName(name).value == name)
    }

    @Test("the byte bound is counted after trimming and NFC, 400 bytes accepted, 401 not")
    func byteBound() throws {
        // 100 "é" decomposed are 300 bytes typed, 200 after NFC.
        #expect(try DisplayName(String(repeating: "e\u{301}", count: 100)).value.utf8.count == 200)
        // 99 emoji (396 bytes) and "ab" with a mark: 100 characters, 396 + 1 + 3 = 400 bytes.
        let at400 = String(repeating: "😀", count: 99) + "a\u{20DD}"
        #expect(at400.utf8.count == 400 && at400.count == 100)
        #expect(problem("  " + at400 + "\n") == nil, "surrounding whitespace is not counted")
        #expect(problem(at400 + "\u{301}") == .tooManyBytes)
    }

    @Test("the problems' descriptions say what the bound is and never repeat the name")
    func descriptions() {
        #expect(DisplayName.Problem.tooManyBytes.description == "The display name is longer than 400 bytes in UTF-8.")
        #expect(UserError.invalidDisplayName(.tooManyBytes).code == "invalid-display-name")
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
