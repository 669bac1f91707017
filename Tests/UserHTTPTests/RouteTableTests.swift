import UserAppCore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Testing
import UserDomain
@testable import ServiceSupport
@testable import UserHTTP
import UserInMemory
import UserPorts
import Yams

/// The router, the route table of the middleware (``APIRoute``) and the OpenAPI document name one set of
/// operations: none of them changes without the others.
@Suite("User HTTP API: one route table")
struct RouteTableTests {
    /// An operation of the document.
    struct Operation: Hashable, CustomStringConvertible {
        var method: String
        var path: String
        var operationID: String
        /// The operation's own `security` is `[{}]`: no token needed.
        var isPublic: Bool
        var description: String { "\(method) \(path)" }
    }

    static let methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]

    /// The operations of the served document.
    static func documentOperations() throws -> [Operation] {
        let document = try #require(try Yams.load(yaml: OpenAPIDocument.yaml) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: Any])
        var operations: [Operation] = []
        for (path, item) in paths {
            let item = try #require(item as? [String: Any], "\(path)")
            for method in methods {
                guard let operation = item[method] as? [String: Any] else { continue }
                let security = operation["security"] as? [[String: Any]]
                operations.append(
                    Operation(
                        method: method.uppercased(), path: path,
                        operationID: try #require(operation["operationId"] as? String, "\(method) \(path)"),
                        isPublic: security?.count == 1 && security?.first?.isEmpty == true))
            }
        }
        return operations
    }

    /// A fully configured API: metrics, directory and event history included.
    static func fullyConfigured() -> UserAPI<AnyUserStore> {
        let store = AnyUserStore(InMemoryUserStore())
        let projection = DirectoryProjection(
            history: store, replica: store.directoryReplica, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        return UserAPI(
            service: UserUseCases(repository: store), readiness: {}, metrics: { Array("users_test_total 7\n".utf8) },
            directory: DirectoryQueries(
                replica: store.directoryReplica, history: store, progress: projection.progress,
                timeout: .milliseconds(300))
        ).servingEvents(from: store)
    }

    @Test("the router's routes (HEAD aside: it is generated for every GET) are the document's operations")
    func routerMatchesDocument() throws {
        let router = Self.fullyConfigured().makeRouter()
        let routes = Set(router.routes.filter { $0.method != .head }.map { "\($0.method) \($0.path)" })
        let operations = Set(try Self.documentOperations().map(\.description))
        #expect(routes == operations, "only routed: \(routes.subtracting(operations)); only documented: \(operations.subtracting(routes))")
        #expect(routes.count == APIRoute.all.count)
    }

    @Test("the route table is the document's operations, with their operationIds and whether they need a token")
    func tableMatchesDocument() throws {
        let table = Set(
            APIRoute.all.map {
                Operation(method: $0.method.rawValue, path: $0.path, operationID: $0.operationID, isPublic: $0.isPublic)
            })
        let document = Set(try Self.documentOperations())
        #expect(table == document, "only in the table: \(table.subtracting(document)); only documented: \(document.subtracting(table))")
    }

    @Test("without metrics, directory and event history the router has none of them, and the table serves none")
    func partialConfiguration() throws {
        let api = UserAPI(service: UserUseCases(repository: AnyUserStore(InMemoryUserStore())), readiness: {})
        let routes = Set(api.makeRouter().routes.filter { $0.method != .head }.map { "\($0.method) \($0.path)" })
        let served = Set(APIRoute.served(metrics: false, directory: false, events: false).map(\.description))
        #expect(routes == served)
        #expect(!routes.contains("GET /metrics") && !routes.contains("GET /directory/stats"))
        #expect(!routes.contains("GET /events"))
    }

    /// A request path for a document path: `{id}` becomes a UUID.
    static func concrete(_ path: String) -> String {
        path.replacingOccurrences(of: "{id}", with: "0190a3c2-0000-7000-8000-000000000000")
    }

    @Test(
        "every documented path answers a method it does not document with 405 and the document's methods in Allow",
        arguments: UserAPITests.Transport.allCases)
    func allowFollowsDocument(_ transport: UserAPITests.Transport) async throws {
        let operations = try Self.documentOperations()
        let app = Application(router: Self.fullyConfigured().makeRouter())
        try await app.test(transport == .router ? .router : .live) { client in
            for path in Set(operations.map(\.path)) {
                let documented = Set(operations.filter { $0.path == path }.map(\.method))
                let expected = Set(documented.contains("GET") ? documented.union(["HEAD"]) : documented)
                try await client.execute(uri: Self.concrete(path), method: .put) { response in
                    #expect(response.status == .methodNotAllowed, "PUT \(path)")
                    let allow = response.headers[.allow] ?? ""
                    let listed = allow.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                    #expect(Set(listed) == expected, "\(path): \(allow)")
                    if let get = listed.firstIndex(of: "GET") {
                        #expect(listed.firstIndex(of: "HEAD") == get + 1, "HEAD after GET: \(allow)")
                    }
                }
            }
        }
    }

    @Test(
        "with tokens, exactly the operations the document marks public answer without one",
        arguments: UserAPITests.Transport.allCases)
    func publicFollowsDocument(_ transport: UserAPITests.Transport) async throws {
        let operations = try Self.documentOperations()
        let app = Application(router: Self.fullyConfigured().makeRouter(tokens: ["s3cret-token"]))
        try await app.test(transport == .router ? .router : .live) { client in
            for operation in operations {
                let method = HTTPRequest.Method(operation.method)!
                try await client.execute(uri: Self.concrete(operation.path), method: method) { response in
                    if operation.isPublic {
                        #expect(response.status == .ok, "\(operation)")
                    } else {
                        #expect(response.status == .unauthorized, "\(operation)")
                    }
                }
            }
            // A path of no route is not public, even under /health/.
            try await client.execute(uri: "/health/other", method: .get) { #expect($0.status == .unauthorized) }
        }
    }
}
