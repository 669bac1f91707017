import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import UserDomain
import UserInMemory
import UserPorts
@testable import ServiceSupport
@testable import UserHTTP

@Suite("GET /events")
struct EventHistoryRouteTests {
    struct Page: Decodable {
        struct Item: Decodable {
            let position: Int64
            let event: UserEventEnvelope
        }
        let items: [Item]
        let next: Int64?
    }

    @Test(
        "the history in pages: every event once, in position order, as the broker's envelope; next only on full pages",
        arguments: UserAPITests.Transport.allCases)
    func pages(_ transport: UserAPITests.Transport) async throws {
        let store = InMemoryUserStore()
        let users = UserUseCases(repository: store)
        for index in 0..<7 {
            let user = try await users.register(email: "e\(index)@example.com", displayName: "E \(index)")
            _ = try await users.rename(user.id, to: "Renamed \(index)", expectedVersion: 1)
        }
        let expected = try await store.events(after: nil, limit: 100).map(\.envelope)
        let api = UserAPI(service: users, readiness: {}).servingEvents(from: store)
        try await Application(router: api.makeRouter(tokens: ["t0k"])).test(transport == .router ? .router : .live) {
            client in
            let auth: HTTPFields = [.authorization: "Bearer t0k"]
            var after: Int64 = 0
            var seen: [UserEventEnvelope] = []
            var positions: [Int64] = []
            var pages = 0
            while true {
                let page = try await client.execute(uri: "/events?after=\(after)&limit=5", method: .get, headers: auth) {
                    response in
                    #expect(response.status == .ok)
                    #expect(response.headers[.contentType] == "application/json")
                    return try JSONDecoder().decode(Page.self, from: Data(String(buffer: response.body).utf8))
                }
                pages += 1
                seen += page.items.map(\.event)
                positions += page.items.map(\.position)
                #expect((page.next != nil) == (page.items.count == 5))
                guard let next = page.next else { break }
                after = next
            }
            #expect(seen == expected)
            #expect(positions == positions.sorted() && Set(positions).count == positions.count)
            #expect(pages == 3, "14 events in pages of 5: 5, 5, 4")
            let raw = try await client.execute(uri: "/events?limit=1", method: .get, headers: auth) { response in
                String(buffer: response.body)
            }
            let first = String(decoding: expected[0].jsonData(), as: UTF8.self)
            #expect(raw.hasPrefix(#"{"items":[{"position":1,"event":\#(first)}]"#), "the envelope's stable JSON as is")

            try await client.execute(uri: "/events", method: .get) { response in
                #expect(response.status == .unauthorized, "authenticated like the rest")
            }
            for bad in ["after=-1", "after=x", "limit=0", "limit=1001", "limit=two"] {
                try await client.execute(uri: "/events?\(bad)", method: .get, headers: auth) { response in
                    #expect(response.status == .badRequest, "\(bad)")
                    #expect(response.headers[.contentType] == "application/problem+json", "\(bad)")
                }
            }
            try await client.execute(uri: "/events?after=14", method: .get, headers: auth) { response in
                #expect(String(buffer: response.body) == #"{"items":[]}"#)
            }
        }
    }

    @Test("a page below what retention deleted is 410 history-trimmed; pages after it are served")
    func trimmed() async throws {
        let store = InMemoryUserStore()
        let users = UserUseCases(repository: store)
        for index in 0..<3 { _ = try await users.register(email: "t\(index)@example.com", displayName: "T") }
        let events = try await store.events(after: nil, limit: 10)
        try await store.markPublished(events.map(\.position))
        #expect(try await store.deletePublishedEvents(before: Date().addingTimeInterval(3600)) == 2)
        let api = UserAPI(service: users, readiness: {}).servingEvents(from: store)
        try await Application(router: api.makeRouter(tokens: ["t0k"])).test(.router) { client in
            let auth: HTTPFields = [.authorization: "Bearer t0k"]
            for after in [0, 1] {
                try await client.execute(uri: "/events?after=\(after)", method: .get, headers: auth) { response in
                    #expect(response.status == .gone, "after=\(after)")
                    #expect(response.headers[.contentType] == "application/problem+json")
                    let body = String(buffer: response.body)
                    #expect(body.contains("history-trimmed") && body.contains("up to position 2"), "\(body)")
                }
            }
            try await client.execute(uri: "/events?after=2", method: .get, headers: auth) { response in
                #expect(response.status == .ok)
                let page = try JSONDecoder().decode(Page.self, from: Data(String(buffer: response.body).utf8))
                #expect(page.items.map(\.position) == [3])
            }
        }
    }
}
