import UserAppCore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing
import UserDomain
@testable import ServiceSupport
@testable import UserHTTP
import UserInMemory
import UserPorts
import UserPostgres
import UserSQLite

struct PostgresNotConfigured: Error, CustomStringConvertible {
    var description: String {
        "USERS_TEST_POSTGRES_URL is not set: run the tests with scripts/test.sh, which starts a throwaway PostgreSQL."
    }
}

/// The same tests through the router and over a live socket, on the in-memory, SQLite and PostgreSQL stores.
@Suite("User HTTP API")
struct UserAPITests {
    enum StoreKind: String, CaseIterable, Sendable { case memory, sqlite, postgres }
    enum Transport: String, CaseIterable, Sendable { case router, live }

    static let cases: [(StoreKind, Transport)] = StoreKind.allCases.flatMap { store in
        Transport.allCases.map { (store, $0) }
    }

    func withClient(
        _ store: StoreKind, _ transport: Transport, configuration: UserAPI<AnyUserStore>.Configuration = .init(),
        _ body: @Sendable (any TestClientProtocol) async throws -> Void
    ) async throws {
        try await withClient(store, transport, configuration: configuration) { client, _ in try await body(client) }
    }

    /// A client, and the projection that keeps the directory (not running: the test calls `catchUp()`).
    func withClient(
        _ store: StoreKind, _ transport: Transport, configuration: UserAPI<AnyUserStore>.Configuration = .init(),
        _ body: @Sendable (any TestClientProtocol, DirectoryProjection<AnyUserStore>) async throws -> Void
    ) async throws {
        let repository: AnyUserStore
        var close: @Sendable () async -> Void = {}
        switch store {
        case .memory:
            repository = AnyUserStore(InMemoryUserStore())
        case .sqlite:
            let sqlite = try await SQLiteUserStore.open(.init(path: ":memory:"))
            repository = AnyUserStore(sqlite)
            close = { await sqlite.close() }
        case .postgres:
            // A fresh schema on the test server (scripts/test.sh starts one; USERS_TEST_POSTGRES_URL names it).
            guard let base = ProcessInfo.processInfo.environment["USERS_TEST_POSTGRES_URL"], !base.isEmpty else {
                throw PostgresNotConfigured()
            }
            let schema = "h_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
            try await PostgresUserStore.execute(url: base, "CREATE SCHEMA \(schema)")
            let url = base + (base.contains("?") ? "&" : "?") + "options=-csearch_path%3D\(schema)"
            // Callers wait for a pooled connection as long as a slow run needs (ThreadSanitizer, a loaded
            // machine), not production's 5 s: the tests here are not about the acquire timeout.
            let postgres = try await PostgresUserStore.open(
                .init(url: url, acquireTimeout: .seconds(300), listensForCommits: false))
            repository = AnyUserStore(postgres)
            close = {
                await postgres.close()
                try? await PostgresUserStore.execute(url: base, "DROP SCHEMA \(schema) CASCADE")
            }
        }
        let projection = DirectoryProjection(
            history: repository, replica: repository.directoryReplica, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let api = UserAPI(
            service: UserUseCases(repository: repository), configuration: configuration, readiness: {},
            directory: DirectoryQueries(
                replica: repository.directoryReplica, history: repository, progress: projection.progress,
                timeout: .milliseconds(300)))
        let app = Application(router: api.makeRouter())
        do {
            try await app.test(transport == .router ? .router : .live) { client in try await body(client, projection) }
        } catch {
            await close()
            throw error
        }
        await close()
    }

    static let json: HTTPFields = [.contentType: "application/json"]

    static func object(_ response: TestResponse) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any])
    }

    /// One field of a JSON object body; `nil` when absent or when the body is not an object.
    static func field(_ response: TestResponse, _ key: String) -> Any? {
        (try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any])?[key]
    }

    @discardableResult
    static func register(_ client: some TestClientProtocol, _ email: String, _ name: String = "Ada") async throws
        -> [String: Any]
    {
        try await client.execute(
            uri: "/users", method: .post, headers: json,
            body: ByteBuffer(string: #"{"email":"\#(email)","displayName":"\#(name)"}"#)
        ) { response in
            #expect(response.status == .created)
            return try object(response)
        }
    }

    @Test(
        "writes return a Consistency-Token; a directory read with it waits for the projection (503 if late)",
        arguments: cases)
    func directoryReadYourWrites(_ store: StoreKind, _ transport: Transport) async throws {
        try await withClient(store, transport) { client, projection in
            let token = try await client.execute(
                uri: "/users", method: .post, headers: Self.json,
                body: ByteBuffer(string: #"{"email":"Ada@Example.com","displayName":"Ada Lovelace"}"#)
            ) { response -> String in
                #expect(response.status == .created)
                return try #require(response.headers[.consistencyToken])
            }
            try await client.execute(
                uri: "/directory/users?prefix=ada", method: .get, headers: [.consistencyToken: token]
            ) {
                response in
                #expect(response.status == .serviceUnavailable, "the projection has not run: never a stale answer")
                #expect(response.headers[.retryAfter] == "1")
                #expect(Self.field(response, "type") as? String == Problem.typeBase + "directory-behind")
            }
            try await client.execute(uri: "/directory/users?prefix=ada", method: .get) { response in
                #expect(response.status == .ok, "without a token the directory answers at once")
                #expect((Self.field(response, "items") as? [Any])?.isEmpty == true)
            }
            try await projection.catchUp()
            try await client.execute(
                uri: "/directory/users?prefix=ADA", method: .get, headers: [.consistencyToken: token]
            ) {
                response in
                #expect(response.status == .ok)
                let items = try #require(Self.field(response, "items") as? [[String: Any]])
                #expect(items.map { $0["displayName"] as? String } == ["Ada Lovelace"])
                #expect(items.first?["email"] as? String == "Ada@Example.com")
            }
            try await client.execute(uri: "/directory/stats", method: .get, headers: [.consistencyToken: token]) {
                response in
                #expect(response.status == .ok)
                #expect(Self.field(response, "active") as? Int == 1)
                #expect(Self.field(response, "total") as? Int == 1)
            }
            for bad in ["abc", "0", "-3", "999999"] {
                try await client.execute(uri: "/directory/stats", method: .get, headers: [.consistencyToken: bad]) {
                    #expect($0.status == .badRequest)
                }
            }
            try await client.execute(uri: "/directory/users?limit=101", method: .get) {
                #expect($0.status == .badRequest)
            }
        }
    }

    @Test("register, read back, ETag and Location", arguments: cases)
    func registerAndGet(_ store: StoreKind, _ transport: Transport) async throws {
        try await withClient(store, transport) { client in
            let id = try await client.execute(
                uri: "/users", method: .post, headers: Self.json,
                body: ByteBuffer(string: #"{"email":"Ada@Example.com","displayName":"Ada Lovelace"}"#)
            ) { response -> String in
                #expect(response.status == .created)
                #expect(response.headers[.eTag] == "\"1\"")
                #expect(response.headers[.contentType] == "application/json")
                let body = try Self.object(response)
                let id = try #require(body["id"] as? String)
                #expect(response.headers[.location] == "/users/\(id)")
                #expect(body["email"] as? String == "Ada@Example.com")
                #expect(body["displayName"] as? String == "Ada Lovelace")
                #expect(body["status"] as? String == "active")
                #expect(body["version"] as? Int == 1)
                #expect((body["createdAt"] as? String)?.hasSuffix("Z") == true)
                return id
            }
            try await client.execute(uri: "/users/\(id)", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.eTag] == "\"1\"")
                #expect(Self.field(response, "email") as? String == "Ada@Example.com")
            }
            try await client.execute(uri: "/users?email=ada@EXAMPLE.com", method: .get) { response in
                let items = try #require(Self.field(response, "items") as? [[String: Any]])
                #expect(items.count == 1)
                #expect(items.first?["id"] as? String == id)
            }
            try await client.execute(uri: "/users?email=nobody@example.com", method: .get) { response in
                #expect((Self.field(response, "items") as? [Any])?.isEmpty == true)
            }
        }
    }

    @Test("bad requests are problems: 422 with fields, 400, 415, 413, 409, 404", arguments: cases)
    func problems(_ store: StoreKind, _ transport: Transport) async throws {
        try await withClient(store, transport, configuration: .init(maximumBodySize: 1024)) { client in
            try await client.execute(
                uri: "/users", method: .post, headers: Self.json,
                body: ByteBuffer(string: #"{"email":"not-an-address","displayName":"Ada"}"#)
            ) { response in
                #expect(response.status == .unprocessableContent)
                #expect(response.headers[.contentType] == "application/problem+json")
                let body = try Self.object(response)
                #expect(body["type"] as? String == Problem.typeBase + "validation")
                let errors = try #require(body["errors"] as? [[String: Any]])
                #expect(errors.first?["field"] as? String == "email")
                #expect(errors.first?["code"] as? String == "missingAtSign")
            }
            try await client.execute(
                uri: "/users", method: .post, headers: Self.json, body: ByteBuffer(string: "{not json")
            ) {
                response in
                #expect(response.status == .badRequest)
                #expect(Self.field(response, "type") as? String == Problem.typeBase + "malformed-json")
            }
            try await client.execute(
                uri: "/users", method: .post, headers: Self.json, body: ByteBuffer(string: #"{"email":"a@b.io"}"#)
            ) {
                response in
                #expect(response.status == .badRequest)
                #expect(Self.field(response, "type") as? String == Problem.typeBase + "missing-field")
            }
            try await client.execute(
                uri: "/users", method: .post, headers: [.contentType: "text/plain"], body: ByteBuffer(string: "hi")
            ) { response in
                #expect(response.status == .unsupportedMediaType)
            }
            let big = String(repeating: "x", count: 4096)
            try await client.execute(
                uri: "/users", method: .post, headers: Self.json,
                body: ByteBuffer(string: #"{"email":"a@b.io","displayName":"\#(big)"}"#)
            ) { response in
                #expect(response.status == .contentTooLarge)
            }
            try await Self.register(client, "taken@example.com")
            try await client.execute(
                uri: "/users", method: .post, headers: Self.json,
                body: ByteBuffer(string: #"{"email":"TAKEN@example.com","displayName":"Other"}"#)
            ) { response in
                #expect(response.status == .conflict)
                let body = try Self.object(response)
                #expect(body["type"] as? String == Problem.typeBase + "email-taken")
                #expect(!(body["detail"] as? String ?? "").contains("taken@example.com"))
            }
            try await client.execute(uri: "/users/\(UUID().uuidString)", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(Self.field(response, "type") as? String == Problem.typeBase + "not-found")
            }
            try await client.execute(uri: "/users/not-a-uuid", method: .get) { response in
                #expect(response.status == .notFound)
            }
            try await client.execute(uri: "/nowhere", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(response.headers[.contentType] == "application/problem+json")
            }
        }
    }

    @Test(
        "a display name over 400 bytes is a displayName field error; another spelling of a taken mailbox is 409",
        arguments: StoreKind.allCases.map { ($0, Transport.router) })
    func byteBoundAndCanonicalEmail(_ store: StoreKind, _ transport: Transport) async throws {
        try await withClient(store, transport) { client in
            // 10 characters, each "x" and 40 combining marks: 810 bytes.
            let stacked = String(repeating: "x" + String(repeating: "\u{301}", count: 40), count: 10)
            try await client.execute(
                uri: "/users", method: .post, headers: Self.json,
                body: ByteBuffer(string: #"{"email":"marks@example.com","displayName":"\#(stacked)"}"#)
            ) { response in
                #expect(response.status == .unprocessableContent)
                let body = try Self.object(response)
                #expect(body["type"] as? String == Problem.typeBase + "validation")
                let errors = try #require(body["errors"] as? [[String: Any]])
                #expect(errors.first?["field"] as? String == "displayName")
                #expect(errors.first?["code"] as? String == "tooManyBytes")
                #expect(errors.first?["detail"] as? String == "The display name is longer than 400 bytes in UTF-8.")
            }
            _ = try await Self.register(client, "idn@bücher.de", String(repeating: "中", count: 100))
            for twin in ["idn@xn--bcher-kva.de", "IDN@BÜCHER.DE"] {
                try await client.execute(
                    uri: "/users", method: .post, headers: Self.json,
                    body: ByteBuffer(string: #"{"email":"\#(twin)","displayName":"Twin"}"#)
                ) { response in
                    #expect(response.status == .conflict, "\(twin)")
                    #expect(Self.field(response, "type") as? String == Problem.typeBase + "email-taken")
                }
            }
            try await client.execute(uri: "/users?email=idn@xn--bcher-kva.de", method: .get) { response in
                let items = try #require(Self.field(response, "items") as? [[String: Any]])
                #expect(items.first?["email"] as? String == "idn@bücher.de")
            }
        }
    }

    @Test("PATCH honours If-Match: 412 on a stale ETag, 428 when required and missing", arguments: cases)
    func patch(_ store: StoreKind, _ transport: Transport) async throws {
        try await withClient(store, transport, configuration: .init(requiresIfMatch: true)) { client in
            let id = try #require(try await Self.register(client, "ada@example.com")["id"] as? String)
            try await client.execute(
                uri: "/users/\(id)", method: .patch, headers: Self.json,
                body: ByteBuffer(string: #"{"displayName":"X"}"#)
            ) { response in
                #expect(response.status == .preconditionRequired)
            }
            var headers = Self.json
            headers[.ifMatch] = "\"1\""
            try await client.execute(
                uri: "/users/\(id)", method: .patch, headers: headers,
                body: ByteBuffer(string: #"{"displayName":"Countess","email":"Ada@Lovelace.org"}"#)
            ) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.eTag] == "\"3\"")
                let body = try Self.object(response)
                #expect(body["displayName"] as? String == "Countess")
                #expect(body["email"] as? String == "Ada@Lovelace.org")
            }
            try await client.execute(
                uri: "/users/\(id)", method: .patch, headers: headers,
                body: ByteBuffer(string: #"{"displayName":"Stale"}"#)
            ) { response in
                #expect(response.status == .preconditionFailed)
            }
            // A refused field leaves the other unchanged: nothing is written.
            headers[.ifMatch] = "\"3\""
            try await client.execute(
                uri: "/users/\(id)", method: .patch, headers: headers,
                body: ByteBuffer(string: #"{"displayName":"Fine","email":"bad"}"#)
            ) { response in
                #expect(response.status == .unprocessableContent)
            }
            try await client.execute(uri: "/users/\(id)", method: .get) { response in
                #expect(Self.field(response, "displayName") as? String == "Countess")
            }
        }
    }

    @Test("deactivate and reactivate are idempotent; DELETE gives 204 then 404", arguments: cases)
    func lifecycle(_ store: StoreKind, _ transport: Transport) async throws {
        try await withClient(store, transport) { client in
            let id = try #require(try await Self.register(client, "ada@example.com")["id"] as? String)
            for _ in 0..<2 {
                try await client.execute(uri: "/users/\(id)/deactivate", method: .post) { response in
                    #expect(response.status == .ok)
                    let body = try Self.object(response)
                    #expect(body["status"] as? String == "deactivated")
                    #expect(body["version"] as? Int == 2)
                }
            }
            try await client.execute(
                uri: "/users/\(id)", method: .patch, headers: Self.json,
                body: ByteBuffer(string: #"{"displayName":"X"}"#)
            ) { response in
                #expect(response.status == .conflict)
                #expect(Self.field(response, "type") as? String == Problem.typeBase + "illegal-transition")
            }
            try await client.execute(uri: "/users/\(id)/reactivate", method: .post, headers: [.ifMatch: "\"1\""]) {
                response in
                #expect(response.status == .preconditionFailed)
            }
            try await client.execute(uri: "/users/\(id)/reactivate", method: .post) { response in
                #expect(Self.field(response, "status") as? String == "active")
            }
            try await client.execute(uri: "/users/\(id)", method: .delete) { response in
                #expect(response.status == .noContent)
            }
            try await client.execute(uri: "/users/\(id)", method: .get) { response in
                #expect(response.status == .notFound)
            }
            try await client.execute(uri: "/users/\(id)", method: .delete) { response in
                #expect(response.status == .notFound)
            }
        }
    }

    @Test("pages: Link header and nextCursor until the last page; bad limit and cursor are 400", arguments: cases)
    func paging(_ store: StoreKind, _ transport: Transport) async throws {
        try await withClient(store, transport) { client in
            for index in 0..<5 { try await Self.register(client, "u\(index)@example.com") }
            var uri = "/users?limit=2"
            var seen: [String] = []
            var pages = 0
            while true {
                let next = try await client.execute(uri: uri, method: .get) { response -> String? in
                    #expect(response.status == .ok)
                    let body = try Self.object(response)
                    let items = try #require(body["items"] as? [[String: Any]])
                    seen += items.compactMap { $0["id"] as? String }
                    let link = response.headers[HTTPField.Name("Link")!]
                    if let cursor = body["nextCursor"] as? String {
                        #expect(link == "</users?limit=2&cursor=\(cursor)>; rel=\"next\"")
                        return "/users?limit=2&cursor=\(cursor)"
                    }
                    #expect(body["nextCursor"] is NSNull)
                    #expect(link == nil)
                    return nil
                }
                pages += 1
                guard let next else { break }
                uri = next
            }
            #expect(pages == 3)
            #expect(seen.count == 5)
            #expect(seen == seen.sorted())
            for bad in ["/users?limit=0", "/users?limit=501", "/users?limit=abc", "/users?cursor=garbage"] {
                try await client.execute(uri: bad, method: .get) { response in
                    #expect(response.status == .badRequest, "\(bad)")
                }
            }
        }
    }

    @Test("request ids: echoed when sane, generated otherwise, and in problems", arguments: cases)
    func requestIDs(_ store: StoreKind, _ transport: Transport) async throws {
        try await withClient(store, transport) { client in
            try await client.execute(uri: "/health/live", method: .get, headers: [.init("X-Request-ID")!: "abc-123"]) {
                response in
                #expect(response.status == .ok)
                #expect(response.headers[.init("X-Request-ID")!] == "abc-123")
            }
            try await client.execute(uri: "/health/ready", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.init("X-Request-ID")!]?.count == 36)
            }
            try await client.execute(
                uri: "/users/\(UUID())", method: .get, headers: [.init("X-Request-ID")!: "trace-9"]
            ) {
                response in
                #expect(Self.field(response, "requestId") as? String == "trace-9")
            }
        }
    }
}

@Suite("User HTTP API: authentication and idempotency")
struct UserAPISecurityTests {
    func withClient(
        tokens: [String] = [], metrics: (@Sendable () -> [UInt8])? = nil,
        transport: UserAPITests.Transport = .router,
        _ body: @Sendable (any TestClientProtocol) async throws -> Void
    ) async throws {
        let api = UserAPI(
            service: UserUseCases(repository: AnyUserStore(InMemoryUserStore())), readiness: {}, metrics: metrics)
        try await Application(router: api.makeRouter(tokens: tokens)).test(transport == .router ? .router : .live) {
            try await body($0)
        }
    }

    @Test("GET /openapi.yaml serves the OpenAPI 3.1 document, also without a token, naming every route")
    func openAPIDocument() async throws {
        try await withClient(tokens: ["s3cret-token"]) { client in
            try await client.execute(uri: "/openapi.yaml", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/yaml")
                let text = String(buffer: response.body)
                #expect(text == OpenAPIDocument.yaml)
                #expect(text.hasPrefix("openapi: 3.1.0\n"))
                for path in [
                    "/users:", "/users/{id}:", "/users/{id}/deactivate:", "/users/{id}/reactivate:", "/health/live:",
                    "/health/ready:", "/metrics:", "/openapi.yaml:",
                ] {
                    #expect(text.contains("\n  \(path)\n"), "the document describes \(path)")
                }
            }
        }
    }

    @Test("a method a resource does not serve is 405 with Allow; an unknown path stays 404")
    func methodNotAllowed() async throws {
        try await withClient { client in
            let cases: [(String, HTTPRequest.Method, String)] = [
                ("/users", .put, "GET, HEAD, POST"),
                ("/users/0190a3c2-0000-7000-8000-000000000000", .post, "GET, HEAD, PATCH, DELETE"),
                ("/users/x/deactivate", .get, "POST"), ("/users/x/deactivate", .head, "POST"),
                ("/health/ready", .delete, "GET, HEAD"), ("/openapi.yaml", .post, "GET, HEAD"),
            ]
            for (path, method, allowed) in cases {
                try await client.execute(uri: path, method: method) { response in
                    #expect(response.status == .methodNotAllowed, "\(method) \(path)")
                    #expect(response.headers[.allow] == allowed)
                    #expect(response.headers[.contentType] == "application/problem+json")
                }
            }
            try await client.execute(uri: "/nowhere", method: .get) { #expect($0.status == .notFound) }
            // Without an exposition there is no /metrics resource at all.
            try await client.execute(uri: "/metrics", method: .post) { #expect($0.status == .notFound) }
        }
    }

    @Test("GET /metrics serves the Prometheus exposition it is given, behind the token when tokens are set")
    func metrics() async throws {
        try await withClient(tokens: ["s3cret-token"], metrics: { Array("users_test_total 7\n".utf8) }) { client in
            try await client.execute(uri: "/metrics", method: .get) { #expect($0.status == .unauthorized) }
            try await client.execute(
                uri: "/metrics", method: .get, headers: [.authorization: "Bearer s3cret-token"]
            ) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/plain; version=0.0.4; charset=utf-8")
                #expect(String(buffer: response.body) == "users_test_total 7\n")
            }
        }
        try await withClient { client in
            try await client.execute(uri: "/metrics", method: .get) { #expect($0.status == .notFound) }
        }
    }

    @Test("with tokens, the API needs a bearer token; health checks do not")
    func bearer() async throws {
        try await withClient(tokens: ["s3cret-token", "other"]) { client in
            try await client.execute(uri: "/users", method: .get) { response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.wwwAuthenticate] == "Bearer")
                #expect(response.headers[.contentType] == "application/problem+json")
            }
            try await client.execute(uri: "/users", method: .get, headers: [.authorization: "Bearer wrong"]) {
                response in
                #expect(response.status == .unauthorized)
            }
            try await client.execute(uri: "/users", method: .get, headers: [.authorization: "Bearer s3cret-token"]) {
                response in
                #expect(response.status == .ok)
            }
            try await client.execute(uri: "/users", method: .get, headers: [.authorization: "Bearer other"]) {
                response in
                #expect(response.status == .ok)
            }
            // The scheme is case-insensitive and may be followed by several spaces (RFC 9110, section 11.4).
            for header in ["bearer other", "BEARER  other", "Bearer   s3cret-token"] {
                try await client.execute(uri: "/users", method: .get, headers: [.authorization: header]) {
                    response in
                    #expect(response.status == .ok, "\(header)")
                }
            }
            for header in ["Bearer", "Bearer ", "Basic other", "Bearerother"] {
                try await client.execute(uri: "/users", method: .get, headers: [.authorization: header]) {
                    response in
                    #expect(response.status == .unauthorized, "\(header)")
                }
            }
            try await client.execute(uri: "/health/live", method: .get) { response in
                #expect(response.status == .ok)
            }
        }
    }

    @Test("a retried POST with the same Idempotency-Key gets the first response; another body is 422")
    func idempotency() async throws {
        try await withClient { client in
            var headers: HTTPFields = [.contentType: "application/json"]
            headers[HTTPField.Name("Idempotency-Key")!] = "key-1"
            let body = #"{"email":"once@example.com","displayName":"Once"}"#
            let first = try await client.execute(
                uri: "/users", method: .post, headers: headers, body: ByteBuffer(string: body)
            ) {
                response -> String in
                #expect(response.status == .created)
                return String(buffer: response.body)
            }
            try await client.execute(uri: "/users", method: .post, headers: headers, body: ByteBuffer(string: body)) {
                response in
                #expect(response.status == .created)
                #expect(String(buffer: response.body) == first)
            }
            try await client.execute(
                uri: "/users", method: .post, headers: headers,
                body: ByteBuffer(string: #"{"email":"twice@example.com","displayName":"Twice"}"#)
            ) { response in
                #expect(response.status == .unprocessableContent)
            }
            try await client.execute(uri: "/users", method: .get) { response in
                #expect((UserAPITests.field(response, "items") as? [Any])?.count == 1)
            }
        }
    }

    @Test("constant-time comparison agrees with ==")
    func constantTime() {
        let cases: [(String, String)] = [
            ("", ""), ("a", ""), ("", "a"), ("abc", "abc"), ("abc", "abd"), ("abc", "abcabc"),
        ]
        for (a, b) in cases {
            #expect(
                BearerAuthenticationMiddleware.constantTimeEqual(Array(a.utf8), Array(b.utf8)) == (a == b),
                "\(a) vs \(b)")
        }
    }
}

@Suite("User HTTP API: HEAD")
struct UserAPIHeadTests {
    @Test(
        "HEAD on every GET route: the GET's status and headers, Content-Length of its body, no body",
        arguments: UserAPITests.Transport.allCases)
    func head(_ transport: UserAPITests.Transport) async throws {
        let store = AnyUserStore(InMemoryUserStore())
        let projection = DirectoryProjection(
            history: store, replica: store.directoryReplica, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let api = UserAPI(
            service: UserUseCases(repository: store), readiness: {}, metrics: { Array("users_test_total 7\n".utf8) },
            directory: DirectoryQueries(
                replica: store.directoryReplica, history: store, progress: projection.progress,
                timeout: .milliseconds(300)))
        try await Application(router: api.makeRouter()).test(transport == .router ? .router : .live) { client in
            let id = try #require(try await UserAPITests.register(client, "ada@example.com")["id"] as? String)
            try await projection.catchUp()
            let uris = [
                "/health/live", "/health/ready", "/openapi.yaml", "/metrics", "/users", "/users?limit=1",
                "/users?email=ada@example.com", "/users/\(id)", "/users/\(UUID())", "/users?limit=0",
                "/directory/users?prefix=ad", "/directory/stats",
            ]
            for uri in uris {
                let get = try await client.execute(uri: uri, method: .get) { $0 }
                try await client.execute(uri: uri, method: .head) { head in
                    #expect(head.status == get.status, "\(uri)")
                    #expect(head.status != .methodNotAllowed, "\(uri)")
                    #expect(head.headers[.contentType] == get.headers[.contentType], "\(uri)")
                    #expect(head.headers[.contentLength] == String(get.body.readableBytes), "\(uri)")
                    #expect(head.headers[.eTag] == get.headers[.eTag], "\(uri)")
                    #expect(head.body.readableBytes == 0, "\(uri)")
                }
            }
        }
    }
}
