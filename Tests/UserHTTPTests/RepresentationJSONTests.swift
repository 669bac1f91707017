import UserAppCore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Testing
import UserDomain
import UserInMemory
import UserPorts
@testable import ServiceSupport
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

/// Keeps every log event, for assertions on the lines a component logs.
private final class CapturedLines: Sendable {
    let events = Locked<[(level: Logger.Level, message: String, metadata: Logger.Metadata)]>([])

    struct Handler: LogHandler {
        let captured: CapturedLines
        var logLevel: Logger.Level = .info
        var metadata: Logger.Metadata = [:]
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { $1 }
            captured.events.withLock { $0.append((event.level, event.message.description, merged)) }
        }
    }
}

@Suite("Access line")
struct AccessLineTests {
    @Test("one info line per request: method, path without the query, status, the request id and a duration")
    func accessLine() async throws {
        let captured = CapturedLines()
        let api = UserAPI(service: UserUseCases(repository: AnyUserStore(InMemoryUserStore())), readiness: {})
        let app = Application(
            router: api.makeRouter(), logger: Logger(label: "test") { _ in CapturedLines.Handler(captured: captured) })
        try await app.test(.router) { client in
            try await client.execute(
                uri: "/users?email=ada%40example.com", method: .get, headers: [HTTPField.Name("X-Request-ID")!: "abc-1"]
            ) { response in
                #expect(response.status == .ok)
                #expect(response.headers[HTTPField.Name("X-Request-ID")!] == "abc-1")
            }
        }
        let lines = captured.events.withLock { $0 }.filter { $0.message.hasPrefix("GET ") }
        #expect(lines.count == 1)
        let line = try #require(lines.first)
        #expect(line.level == .info)
        #expect(line.message == "GET /users 200", "the query (which may hold an address) is left out")
        #expect(line.metadata["request.id"] == "abc-1")
        #expect(Double(line.metadata["duration.ms"]?.description ?? "") != nil)
    }
}
