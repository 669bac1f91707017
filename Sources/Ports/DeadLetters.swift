/// The events the relay gave up on: parked as dead after too many failed publishes
/// (``OutboxDelivery/markFailed(_:reason:retryAt:)`` without a retry time), kept until an operator revives them
/// (`users events dead`, `users events retry`).
///
/// Errors: every method may throw `UserStoreError` for an infrastructure failure (code `unavailable` when the
/// store can't be reached, `closed` after the store closed); none throws a `UserError`.
public protocol DeadLetters: Sendable {
    /// Events parked as dead, in position order, at most `limit`, each with its attempts and its last error.
    func deadEvents(limit: Int) async throws -> [OutboxEvent]
    /// Makes dead events due again: the ones at `positions` (others, unknown or not dead, are ignored), or all
    /// when `nil`. A revived event is due at once, with its attempts reset to 0 and its last error cleared
    /// (`nil`), and its user's later events are no longer held behind it.
    ///
    /// - Returns: how many events were revived.
    @discardableResult
    func retryDeadEvents(_ positions: [EventPosition]?) async throws -> Int
}
