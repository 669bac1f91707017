import Foundation
import HTTPTypes
public import Hummingbird
import NIOCore
import UserDomain
public import UserPorts

/// The read-only REST API of a directory service (a second service that keeps a `DirectoryReplica` from
/// the user service's events): `GET /directory/users?prefix=&limit=` and `GET /directory/stats`, with the
/// JSON shapes of the user service's own directory routes (`DirectoryPage`, `DirectoryStatistics` in the
/// OpenAPI document), plus `GET /health/live` and `GET /health/ready`. Errors are RFC 9457 problems (see
/// ``Problem``); every response carries `X-Request-ID`; `HEAD` is answered wherever `GET` is.
public struct DirectoryAPI<Replica: DirectoryReplica>: Sendable {
    /// The largest page of a search, as the user service's.
    public static var searchLimit: Int { 100 }

    private let replica: Replica
    private let readiness: @Sendable () async throws -> Void

    /// Creates the API over a replica.
    ///
    /// - Parameters:
    ///   - replica: the read model the routes read.
    ///   - readiness: what `GET /health/ready` checks; it throws when the service is not ready (the backfill
    ///     has not finished, or the broker consumer is not connected), with a sentence for the operator.
    public init(replica: Replica, readiness: @escaping @Sendable () async throws -> Void) {
        self.replica = replica
        self.readiness = readiness
    }

    /// A router with the routes and the request-id and metrics middleware; with `tokens`, every route but
    /// the health checks requires one of them as a bearer token.
    public func makeRouter(tokens: [String] = []) -> Router<UserRequestContext> {
        let router = Router(context: UserRequestContext.self, options: .autoGenerateHeadEndpoints)
        router.add(middleware: RequestMetricsMiddleware())
        router.add(middleware: RequestIDMiddleware())
        router.add(middleware: MethodNotAllowedMiddleware(routes: Self.routes))
        if !tokens.isEmpty { router.add(middleware: BearerAuthenticationMiddleware(tokens: tokens)) }
        addRoutes(to: router)
        return router
    }

    /// The routes ``addRoutes(to:)`` adds, for the 405 answers' `Allow` lists: the user API's of the same
    /// paths.
    static var routes: [APIRoute] {
        let paths: Set = ["/directory/users", "/directory/stats", "/health/live", "/health/ready"]
        return APIRoute.all.filter { paths.contains($0.path) }
    }

    /// Adds the routes to a router.
    public func addRoutes(to router: Router<UserRequestContext>) {
        router.get("health/live") { _, _ in try Self.json(["status": "ok"]) }
        router.get("health/ready") { _, _ in
            do {
                try await readiness()
                return try Self.json(["status": "ready"])
            } catch {
                throw Problem(
                    .serviceUnavailable, code: "not-ready", title: "The service is not ready.",
                    detail: "\(error)", headers: [.retryAfter: "1"])
            }
        }
        router.get("directory/users") { request, _ in
            let query = request.uri.queryParameters
            var limit = 20
            if let text = query["limit"] {
                guard let value = Int(text), (1...Self.searchLimit).contains(value) else {
                    throw Problem.badRequest(
                        "invalid-limit", "limit must be a whole number from 1 to \(Self.searchLimit).", field: "limit")
                }
                limit = value
            }
            let prefix = DirectoryEntry.searchPrefix(query["prefix"].map(String.init) ?? "")
            let entries = try await replica.search(prefix: prefix, limit: limit)
            return try Self.json(DirectoryPage(items: entries.map(DirectoryEntryRepresentation.init)))
        }
        router.get("directory/stats") { _, _ in
            let statistics = try await replica.statistics()
            return try Self.json(
                DirectoryStatisticsRepresentation(
                    active: statistics.active, deactivated: statistics.deactivated, total: statistics.total))
        }
    }

    private static func json(_ value: some Encodable) throws -> Response {
        let data = try JSONEncoder.sorted.encode(value)
        return Response(
            status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
