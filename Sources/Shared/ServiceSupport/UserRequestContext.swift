public import Hummingbird

/// The request context of the user API: Hummingbird's core storage plus the request id that every log line
/// and problem response carries.
public struct UserRequestContext: RequestContext {
    /// Hummingbird's per-request storage.
    public var coreContext: CoreRequestContextStorage
    /// The id of this request: the client's `X-Request-ID` when it sent a usable one, generated otherwise.
    public var requestID: String = ""
    /// Who is calling, for scoping what the API remembers per caller (idempotency keys): the accepted bearer
    /// token's position in the configured list, `anonymous` without authentication. Never the token itself.
    package var caller: String = "anonymous"

    /// Creates the context for a request.
    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
    }
}
