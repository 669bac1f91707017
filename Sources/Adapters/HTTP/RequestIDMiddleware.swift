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
                Self.randomID()
            }
        context.requestID = id
        context.logger[metadataKey: "request.id"] = "\(id)"
        let started = ContinuousClock.now
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            let problem = Problem.from(error)
            // A 503 (a store out of reach, a directory behind its token) is a condition, not a bug: a warning.
            if problem.status == .serviceUnavailable {
                context.logger.warning("request refused: unavailable", metadata: ["problem": "\(problem.code)"])
            } else if problem.status.code >= 500 {
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

    /// A random (version 4) UUID, lower-case. From the standard library's generator (`getrandom`):
    /// Foundation's `UUID()` opens and reads `/dev/urandom` on every call on Linux, a syscall trio per request.
    static func randomID() -> String {
        var generator = SystemRandomNumberGenerator()
        var high = generator.next() as UInt64
        var low = generator.next() as UInt64
        high = (high & ~0xF000) | 0x4000  // version 4
        low = (low & ~(0xC000 << 48)) | (0x8000 << 48)  // RFC 4122 variant
        let bytes = withUnsafeBytes(of: (high.bigEndian, low.bigEndian)) { Array($0) }
        let uuid = UUID(
            uuid: (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9],
                bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
            ))
        return uuid.uuidString.lowercased()
    }
}
