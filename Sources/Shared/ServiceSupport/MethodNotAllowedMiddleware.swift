package import HTTPTypes
package import Hummingbird

/// Answers 405 with an `Allow` header, instead of the router's 404, when the path names a resource of the
/// API but the method is not one it serves (RFC 9110, section 15.5.6). HEAD is listed wherever GET is: the
/// router answers it (section 9.3.2).
package struct MethodNotAllowedMiddleware: RouterMiddleware {
    package typealias Context = UserRequestContext

    /// The routes of this API (see ``APIRoute``).
    package let routes: [APIRoute]

    /// Creates the middleware for a user API with or without `/metrics` and `/directory/…`.
    package init(servesMetrics: Bool, servesDirectory: Bool, servesEvents: Bool) {
        routes = APIRoute.served(metrics: servesMetrics, directory: servesDirectory, events: servesEvents)
    }

    /// Creates the middleware for an API of these routes (the directory service's).
    package init(routes: [APIRoute]) {
        self.routes = routes
    }

    package func handle(
        _ request: Request, context: UserRequestContext, next: (Request, UserRequestContext) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            guard let allowed = allowedMethods(path: request.uri.path), !allowed.contains(request.method) else {
                throw error
            }
            let list = allowed.map(\.rawValue).joined(separator: ", ")
            throw Problem(
                .methodNotAllowed, code: "method-not-allowed", title: "The method is not allowed.",
                detail: "\(request.uri.path) allows \(list).", headers: [.allow: list])
        }
    }

    /// The methods the API serves on a path (HEAD after GET), or `nil` when it names no resource.
    package func allowedMethods(path: String) -> [HTTPRequest.Method]? {
        APIRoute.allowedMethods(path: path[...], among: routes)
    }
}
