/// The relay lease: held by one relay at a time, so several relays against one database (several
/// `users serve`) never publish at the same time. The store's clock decides expiry.
///
/// Errors: every method may throw `UserStoreError` for an infrastructure failure (code `unavailable` when the
/// store can't be reached, `closed` after the store closed); none throws a `UserError`.
public protocol RelayLease: Sendable {
    /// Takes or renews the relay lease named `owner` for `duration`, unless another owner holds an unexpired
    /// one: only the holder publishes, so several relays against one database never publish at the same
    /// time.
    ///
    /// - Returns: `true` when `owner` holds the lease until at least `duration` from now.
    func acquireRelayLease(owner: String, duration: Duration) async throws -> Bool
    /// Gives the lease up, when `owner` holds it, so a standby relay takes over at once.
    func releaseRelayLease(owner: String) async throws
}
