import Foundation
public import Hummingbird
import Logging

/// Gives every request an id (the client's `X-Request-ID` when it is 1–128 visible ASCII characters,
/// generated otherwise), echoes it in the response, logs one access line with it, and turns every error into
/// an RFC 9457 problem that carries it.
public struct RequestIDMiddleware: RouterMiddleware {
    /// The context the middleware runs in.
    public typealias Context = UserRequestContext

    /// Creates the middleware.
    public init() {}

    /// Handles one request.
    public func handle(
        _ request: Request, context: UserRequestContext, next: (Request, UserRequestContext) async throws -> Response
    ) async throws -> Response {
        var context = context
        let offered = request.headers[.init("X-Request-ID")!]
        let id =
            if let offered, (1...128).contains(offered.utf8.count), offered.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
            {
                offered
            } else {
                UUID().uuidString.lowercased()
            }
        context.requestID = id
        context.logger[metadataKey: "request.id"] = "\(id)"
        let started = ContinuousClock.now
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            let problem = Problem.from(error)
            if problem.status.code >= 500 {
                context.logger.error("request failed", metadata: ["error": "\(String(reflecting: error))"])
            }
            response = try problem.response(from: request, context: context)
        }
        response.headers[.init("X-Request-ID")!] = id
        let elapsed = ContinuousClock.now - started
        context.logger.info(
            "\(request.method) \(request.uri.path) \(response.status.code)",
            metadata: [
                "duration.ms":
                    "\(Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000)"
            ])
        return response
    }
}
