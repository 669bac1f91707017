import Foundation
import HTTPTypes
public import Hummingbird
import NIOCore
import UserDomain
public import UserPorts
public import ServiceSupport

/// The read-only REST API of a directory service (a second service that keeps a `DirectoryReplica` from
/// the user service's events): `GET /directory/users?prefix=&limit=` and `GET /directory/stats`, with the
/// JSON shapes of the user service's own directory routes (`DirectoryPage`, `DirectoryStatistics` in the
/// OpenAPI document), plus `GET /health/live`, `GET /health/ready` and `GET /metrics` (when given an
/// exposition). Errors are RFC 9457 problems (see `Problem`); every response carries `X-Request-ID`; `HEAD`
/// is answered wherever `GET` is. The directory routes are the user API's own (one face for both services),
/// `Consistency-Token` included.
public struct DirectoryAPI: Sendable {
    private let directory: DirectoryQueries
    private let readiness: @Sendable () async throws -> Void
    private let metrics: (@Sendable () -> [UInt8])?
    private let incomplete: @Sendable () -> String?

    /// Creates the API over the directory queries of a replica.
    ///
    /// - Parameters:
    ///   - directory: the queries the routes answer.
    ///   - metrics: the Prometheus text exposition that `GET /metrics` serves (a `PrometheusCollectorRegistry`'s
    ///     `emitToBuffer`); without it there is no `/metrics` route.
    ///   - incomplete: why the directory is not whole yet (its first backfill, or a rebuild after its store lost
    ///     data, runs), or `nil` when it is: meanwhile the directory routes answer 503 `directory-incomplete`
    ///     with `Retry-After`, never a page from part of the users as if it were all of them.
    ///   - readiness: what `GET /health/ready` checks; it throws when the service is not ready (the backfill
    ///     has not finished, or the broker consumer is not connected), with a sentence for the operator.
    public init(
        directory: DirectoryQueries, metrics: (@Sendable () -> [UInt8])? = nil,
        incomplete: @escaping @Sendable () -> String? = { nil },
        readiness: @escaping @Sendable () async throws -> Void
    ) {
        self.directory = directory
        self.incomplete = incomplete
        self.metrics = metrics
        self.readiness = readiness
    }

    /// A router with the routes and the request-id and metrics middleware; with `tokens`, every route but
    /// the health checks requires one of them as a bearer token.
    public func makeRouter(tokens: [String] = []) -> Router<UserRequestContext> {
        let router = Router(context: UserRequestContext.self, options: .autoGenerateHeadEndpoints)
        router.add(middleware: RequestMetricsMiddleware())
        router.add(middleware: RequestIDMiddleware())
        router.add(middleware: MethodNotAllowedMiddleware(routes: Self.routes(metrics: metrics != nil)))
        if !tokens.isEmpty { router.add(middleware: BearerAuthenticationMiddleware(tokens: tokens)) }
        router.add(middleware: IncompleteDirectoryMiddleware(incomplete: incomplete))
        addRoutes(to: router)
        return router
    }

    /// The routes ``addRoutes(to:)`` adds, for the 405 answers' `Allow` lists: the user API's of the same
    /// paths.
    static func routes(metrics: Bool) -> [APIRoute] {
        var paths: Set = ["/directory/users", "/directory/stats", "/health/live", "/health/ready"]
        if metrics { paths.insert("/metrics") }
        return APIRoute.all.filter { paths.contains($0.path) }
    }

    /// Adds the routes to a router.
    public func addRoutes(to router: Router<UserRequestContext>) {
        router.get("health/live") { _, _ in try DirectoryRoutes.json(["status": "ok"]) }
        router.get("health/ready") { _, _ in
            do {
                try await readiness()
                return try DirectoryRoutes.json(["status": "ready"])
            } catch {
                throw Problem(
                    .serviceUnavailable, code: "not-ready", title: "The service is not ready.",
                    detail: "\(error)", headers: [.retryAfter: "1"])
            }
        }
        DirectoryRoutes.add(to: router, directory)
        if let metrics {
            router.get("metrics") { _, _ in
                Response(
                    status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                    body: .init(byteBuffer: ByteBuffer(bytes: metrics())))
            }
        }
    }
}

/// Answers the directory routes with 503 while the directory is not whole (see ``DirectoryAPI``'s `incomplete`).
struct IncompleteDirectoryMiddleware: RouterMiddleware {
    typealias Context = UserRequestContext
    let incomplete: @Sendable () -> String?

    func handle(
        _ request: Request, context: UserRequestContext, next: (Request, UserRequestContext) async throws -> Response
    ) async throws -> Response {
        guard request.uri.path.hasPrefix("/directory/") else { return try await next(request, context) }
        try check()
        let response = try await next(request, context)
        // A rebuild that began while the replica was read may have answered from part of it: checked again.
        try check()
        return response
    }

    private func check() throws {
        if let reason = incomplete() {
            throw Problem(
                .serviceUnavailable, code: "directory-incomplete", title: "The directory is not complete yet.",
                detail: reason, headers: [.retryAfter: "1"])
        }
    }
}
