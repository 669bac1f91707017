import UserDomain
import ServiceSupport

/// Limits and rules of the API.
public struct UserAPIConfiguration: Sendable, Hashable {
    /// The largest request body accepted (413 above it).
    public var maximumBodySize: Int
    /// The page size when the request gives none.
    public var defaultPageSize: Int
    /// The largest page size a request may ask for (400 above it).
    public var maximumPageSize: Int
    /// Whether `PATCH` and `DELETE` must carry `If-Match` (428 without it).
    public var requiresIfMatch: Bool
    /// The most `Idempotency-Key`s remembered at once (the oldest are forgotten first).
    public var idempotencyKeys: Int
    /// The most bytes the remembered `Idempotency-Key` responses may hold (the oldest are forgotten first).
    public var idempotencyBytes: Int

    /// Creates a configuration.
    public init(
        maximumBodySize: Int = 64 * 1024, defaultPageSize: Int = 50, maximumPageSize: Int = 500,
        requiresIfMatch: Bool = false, idempotencyKeys: Int = 10_000, idempotencyBytes: Int = 16 << 20
    ) {
        self.maximumBodySize = maximumBodySize
        self.defaultPageSize = defaultPageSize
        self.maximumPageSize = min(maximumPageSize, UserPage.maximumLimit)
        self.requiresIfMatch = requiresIfMatch
        self.idempotencyKeys = idempotencyKeys
        self.idempotencyBytes = idempotencyBytes
    }
}
