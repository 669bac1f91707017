import HTTPTypes
import Hummingbird

/// Answers 405 with an `Allow` header, instead of the router's 404, when the path names a resource of the
/// API but the method is not one it serves (RFC 9110, section 15.5.6). HEAD is listed wherever GET is: the
/// router answers it (section 9.3.2).
struct MethodNotAllowedMiddleware: RouterMiddleware {
    typealias Context = UserRequestContext

    /// Whether `/metrics` is served.
    let servesMetrics: Bool
    /// Whether `/directory/…` is served.
    let servesDirectory: Bool

    func handle(
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

    /// The methods the API serves on a path, or `nil` when it names no resource.
    func allowedMethods(path: String) -> [HTTPRequest.Method]? {
        guard var methods = servedMethods(path: path) else { return nil }
        if let get = methods.firstIndex(of: .get) { methods.insert(.head, at: get + 1) }
        return methods
    }

    private func servedMethods(path: String) -> [HTTPRequest.Method]? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        switch parts.count {
        case 1 where parts[0] == "users": return [.get, .post]
        case 1 where parts[0] == "openapi.yaml": return [.get]
        case 1 where parts[0] == "metrics" && servesMetrics: return [.get]
        case 2 where parts[0] == "users": return [.get, .patch, .delete]
        case 2 where parts[0] == "health" && (parts[1] == "live" || parts[1] == "ready"): return [.get]
        case 2 where parts[0] == "directory" && (parts[1] == "users" || parts[1] == "stats") && servesDirectory:
            return [.get]
        case 3 where parts[0] == "users" && (parts[2] == "deactivate" || parts[2] == "reactivate"): return [.post]
        default: return nil
        }
    }
}
