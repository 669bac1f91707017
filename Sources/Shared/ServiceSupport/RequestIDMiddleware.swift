import Foundation
import HTTPTypes
import UserDomain
import UserPorts
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

    private static let requestIDField = HTTPField.Name("X-Request-ID")!
    private static let random = Locked(RandomWords())

    /// Handles one request.
    ///
    /// The id goes into the metadata of the lines this middleware logs (`request.id`) rather than into the
    /// context's logger: setting logger metadata re-renders the handler's whole metadata on every request
    /// (StreamLogHandler), which the HTTP profile showed; handlers' own lines carry Hummingbird's
    /// `hb.request.id`.
    public func handle(
        _ request: Request, context: UserRequestContext, next: (Request, UserRequestContext) async throws -> Response
    ) async throws -> Response {
        var context = context
        let offered = request.headers[Self.requestIDField]
        let id =
            if let offered, (1...128).contains(offered.utf8.count), offered.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
            {
                offered
            } else {
                Self.randomID()
            }
        context.requestID = id
        let started = ContinuousClock.now
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            let problem: Problem
            var clientFault = false
            if let (framing, clientGone) = Problem.framing(error, headers: request.headers) {
                clientFault = true
                // The client's fault (or its hang-up), not the server's: below `error`.
                problem = framing
                context.logger.debug(
                    clientGone ? "client closed the connection mid-request" : "malformed request framing",
                    metadata: ["request.id": "\(id)", "status": "\(problem.status.code)", "error": "\(error)"])
            } else {
                problem = Problem.from(error)
            }
            // A 503 (a store out of reach, a directory behind its token) is a condition, not a bug: a warning.
            if problem.status == .serviceUnavailable {
                context.logger.warning(
                    "request refused: unavailable", metadata: ["request.id": "\(id)", "problem": "\(problem.code)"])
            } else if problem.status.code >= 500, problem.status != .notImplemented, !clientFault {
                // (501 is a request for something this server does not do: the client's side.)
                context.logger.error(
                    "request failed", metadata: ["request.id": "\(id)", "error": "\(String(reflecting: error))"])
            }
            response = try problem.response(from: request, context: context)
            // HEAD: the status and headers of the GET, without the content (RFC 9110, section 9.3.2).
            if request.method == .head { response = response.createHeadResponse() }
        }
        response.headers[Self.requestIDField] = id
        let elapsed = ContinuousClock.now - started
        if context.logger.logLevel <= .info {
            // The raw request target up to the query (which may hold an e-mail address): parsing `request.uri`
            // into URL components for the path alone showed in the profile.
            // Searched as bytes: a Character search walks grapheme clusters (it showed in the profile).
            let target = request.head.path ?? "/"
            let path = target.utf8.firstIndex(of: UInt8(ascii: "?")).map { target[..<$0] } ?? target[...]
            let milliseconds = Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000
            context.logger.info(
                "\(request.method) \(path) \(response.status.code)",
                metadata: ["request.id": "\(id)", "duration.ms": "\(milliseconds)"])
        }
        return response
    }

    /// A random (version 4) UUID, lower-case, from the kernel's CSPRNG, drawn from a buffer refilled 512 bytes
    /// at a time: Foundation's `UUID()` opens and reads `/dev/urandom` on every call on Linux, and even one
    /// `getrandom` per request showed in the profile.
    package static func randomID() -> String {
        let (high, low) = random.withLock { ($0.next(), $0.next()) }
        var bytes: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &bytes) { buffer in
            buffer.storeBytes(of: high, toByteOffset: 0, as: UInt64.self)
            buffer.storeBytes(of: low, toByteOffset: 8, as: UInt64.self)
            buffer[6] = (buffer[6] & 0x0F) | 0x40  // version 4
            buffer[8] = (buffer[8] & 0x3F) | 0x80  // RFC 9562 variant
        }
        return UUID(uuid: bytes).lowercasedString
    }
}
