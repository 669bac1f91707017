import HTTPTypes
public import Hummingbird

/// Requires `Authorization: Bearer <token>` with one of the configured tokens on every route but the public ones
/// of the route table (the health checks `/health/live` and `/health/ready`, and the API description
/// `/openapi.yaml`); answers 401 (a problem, with `WWW-Authenticate: Bearer`) otherwise.
///
/// Tokens are compared in constant time (every byte of every configured token is looked at, whatever the
/// offered token), and never logged.
public struct BearerAuthenticationMiddleware: RouterMiddleware {
    /// The context the middleware runs in.
    public typealias Context = UserRequestContext

    private let tokens: [[UInt8]]

    /// Creates the middleware over the accepted tokens (empty ones are ignored).
    public init(tokens: [String]) {
        self.tokens = tokens.filter { !$0.isEmpty }.map { Array($0.utf8) }
    }

    /// Lets the request through when its bearer token is accepted, or when it asks for a health check or
    /// the API description.
    public func handle(
        _ request: Request, context: UserRequestContext, next: (Request, UserRequestContext) async throws -> Response
    ) async throws -> Response {
        if APIRoute.isPublic(path: request.uri.path[...]) {
            return try await next(request, context)
        }
        guard let header = request.headers[.authorization], let credentials = Self.bearerCredentials(header) else {
            throw Self.unauthorized("Send Authorization: Bearer <token>.")
        }
        let offered = Array(credentials.utf8)
        var accepted = -1
        for (index, token) in tokens.enumerated() {
            // No early exit: the time taken does not depend on which token matched, or how far.
            let equal = Self.constantTimeEqual(offered, token)
            accepted = equal ? index : accepted
        }
        guard accepted >= 0 else { throw Self.unauthorized("The bearer token is not accepted.") }
        var context = context
        context.caller = "token-\(accepted)"
        return try await next(request, context)
    }

    /// The credentials of a `Bearer` authorization, `nil` for another scheme. The scheme is compared without
    /// regard to case and may be followed by one or more spaces (RFC 9110, section 11.1 and 11.4).
    package static func bearerCredentials(_ header: String) -> Substring? {
        let value = Substring(header)
        let scheme = value.prefix { $0 != " " }
        guard scheme.lowercased() == "bearer" else { return nil }
        let credentials = value[scheme.endIndex...].drop { $0 == " " }
        return credentials.isEmpty ? nil : credentials
    }

    package static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt64(a.count ^ b.count)
        let length = max(a.count, b.count)
        for index in 0..<length {
            let x = a.isEmpty ? 0 : a[index % a.count]
            let y = b.isEmpty ? 0 : b[index % b.count]
            difference |= UInt64(x ^ y)
        }
        return difference == 0
    }

    private static func unauthorized(_ detail: String) -> Problem {
        Problem(
            .unauthorized, code: "unauthorized", title: "Authentication is required.", detail: detail,
            headers: [.wwwAuthenticate: "Bearer"])
    }
}
