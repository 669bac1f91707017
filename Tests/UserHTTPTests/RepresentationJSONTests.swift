import Foundation
import Testing
import UserDomain
@testable import UserHTTP

@Suite("Representation JSON")
struct RepresentationJSONTests {
    @Test("the hand-written user and page JSON equal JSONEncoder.sorted's, byte for byte")
    func matchesJSONEncoder() throws {
        let names = ["Ada", "a\"b\\c/d", "Zoë 👩‍💻", "\u{1}\t\n", "名前"]
        let users = names.enumerated().map { index, name in
            User(
                id: UserID(UUID()), email: EmailAddress(trustedValue: "u\(index)/\"@example.com", canonical: "u"),
                displayName: DisplayName(trustedValue: name), status: index.isMultiple(of: 2) ? .active : .deactivated,
                version: index + 1, createdAt: Date(epochMilliseconds: 1_764_000_000_123),
                updatedAt: Date(epochMilliseconds: 1_764_000_100_456))
        }
        for user in users {
            let representation = UserRepresentation(user)
            #expect(
                representation.json == Array(try JSONEncoder.sorted.encode(representation)))
        }
        for cursor in [nil, "abc_-9", "q\"uote"] as [String?] {
            for items in [[], users.map(UserRepresentation.init)] {
                let page = PageRepresentation(items: items, nextCursor: cursor)
                #expect(page.json == Array(try JSONEncoder.sorted.encode(page)))
            }
        }
    }
}

@Suite("Request ids")
struct RequestIDTests {
    @Test("generated request ids are distinct lower-case version 4 UUIDs")
    func randomIDs() {
        let ids = (0..<1000).map { _ in RequestIDMiddleware.randomID() }
        #expect(Set(ids).count == 1000)
        for id in ids.prefix(50) {
            let characters = Array(id)
            #expect(UUID(uuidString: id) != nil && id == id.lowercased() && id.count == 36)
            #expect(characters[14] == "4", "version 4: \(id)")
            #expect("89ab".contains(characters[19]), "RFC 4122 variant: \(id)")
        }
    }
}
