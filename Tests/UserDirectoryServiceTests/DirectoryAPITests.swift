import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import UserDomain
import UserInMemory
import UserPorts
import ServiceSupport
import UserHTTP
@testable import UserDirectoryService

@Suite("DirectoryAPI (the directory service)")
struct DirectoryAPITests {
    func withClient(
        tokens: [String] = [], ready: Bool = true, incomplete: String? = nil,
        _ body: @Sendable (any TestClientProtocol) async throws -> Void
    ) async throws {
        struct NotReady: Error {}
        let replica = InMemoryDirectoryReplica()
        let user = UserEventEnvelope(
            eventID: UUID(), userID: UserID(UUID()), userVersion: 1, occurredAt: Date(),
            event: .registered(email: try EmailAddress("ada@example.com"), displayName: try DisplayName("Ada")))
        // A page of the user service's history, up to position 5.
        _ = try await replica.apply([user], reaching: EventPosition(rawValue: 5))
        let api = DirectoryAPI(
            directory: DirectoryQueries(replica: replica, timeout: .milliseconds(100)), incomplete: { incomplete }
        ) {
            if !ready { throw NotReady() }
        }
        try await Application(router: api.makeRouter(tokens: tokens)).test(.router, body)
    }

    @Test("its routes answer; a method a path does not serve is 405 with Allow, as problem+json; others 404")
    func methods() async throws {
        try await withClient { client in
            for route in DirectoryAPI.routes(metrics: false) {
                try await client.execute(uri: route.path, method: .get) { #expect($0.status == .ok, "\(route)") }
            }
            for (path, method) in [
                ("/directory/users", HTTPRequest.Method.post), ("/directory/stats", .delete), ("/health/ready", .put),
                ("/health/live", .patch),
            ] {
                try await client.execute(uri: path, method: method) { response in
                    #expect(response.status == .methodNotAllowed, "\(method) \(path)")
                    #expect(response.headers[.allow] == "GET, HEAD")
                    #expect(response.headers[.contentType] == "application/problem+json")
                    #expect(String(buffer: response.body).contains("problems/method-not-allowed"))
                }
            }
            // The user service's other routes are not this service's: 404, not 405.
            for (path, method) in [("/users", HTTPRequest.Method.post), ("/events", .get), ("/nowhere", .get)] {
                try await client.execute(uri: path, method: method) { response in
                    #expect(response.status == .notFound, "\(method) \(path)")
                    #expect(response.headers[.contentType] == "application/problem+json")
                }
            }
        }
    }

    @Test("while the directory is incomplete (a backfill or a rebuild runs) its routes answer 503, not a part of it")
    func incomplete() async throws {
        try await withClient(incomplete: "The directory is being built.") { client in
            for path in ["/directory/users?prefix=a", "/directory/stats"] {
                try await client.execute(uri: path, method: .get) { response in
                    #expect(response.status == .serviceUnavailable, "\(path)")
                    #expect(response.headers[.retryAfter] == "1")
                    #expect(String(buffer: response.body).contains("directory-incomplete"))
                }
            }
            try await client.execute(uri: "/health/live", method: .get) { #expect($0.status == .ok) }
        }
    }

    @Test("search, counts, a bad limit as a problem, readiness, and the token on everything but health")
    func routes() async throws {
        try await withClient(tokens: ["d1r-token"]) { client in
            let auth: HTTPFields = [.authorization: "Bearer d1r-token"]
            try await client.execute(uri: "/directory/users?prefix=ad", method: .get) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/directory/users?prefix=ad", method: .post) { response in
                // Which methods a path allows is not hidden behind the token, as in the user service.
                #expect(response.status == .methodNotAllowed || response.status == .unauthorized)
            }
            try await client.execute(uri: "/directory/users?prefix=ad", method: .get, headers: auth) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains(#""displayName":"Ada""#))
            }
            try await client.execute(uri: "/directory/users?limit=0", method: .get, headers: auth) { response in
                #expect(response.status == .badRequest)
                #expect(response.headers[.contentType] == "application/problem+json")
            }
            try await client.execute(uri: "/directory/stats", method: .get, headers: auth) { response in
                #expect(String(buffer: response.body) == #"{"active":1,"deactivated":0,"total":1}"#)
            }
            try await client.execute(uri: "/health/ready", method: .get) { #expect($0.status == .ok) }
        }
        try await withClient(ready: false) { client in
            try await client.execute(uri: "/health/ready", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] == "1")
            }
        }
    }

    @Test("a Consistency-Token at or below what the directory applied is answered; one above it is 503, a bad one 400")
    func consistencyToken() async throws {
        try await withClient { client in
            for token in ["1", "5"] {
                try await client.execute(
                    uri: "/directory/users?prefix=ad", method: .get, headers: [.consistencyToken: token]
                ) { #expect($0.status == .ok, "token \(token)") }
            }
            try await client.execute(uri: "/directory/stats", method: .get, headers: [.consistencyToken: "6"]) {
                response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] == "1")
                #expect(String(buffer: response.body).contains("directory-behind"))
            }
            try await client.execute(uri: "/directory/stats", method: .get, headers: [.consistencyToken: "x"]) {
                #expect($0.status == .badRequest)
            }
        }
    }
}
