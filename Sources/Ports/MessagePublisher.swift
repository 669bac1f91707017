public import UserDomain

/// Where the outbox relay sends events: an in-memory bus, a log, a message broker.
///
/// Delivery through the relay is at least once and in order per user; consumers deduplicate by
/// `UserEventEnvelope.eventID`.
public protocol MessagePublisher: Sendable {
    /// Publishes one event.
    ///
    /// Returns when the destination has accepted the event (for a broker: confirmed it). Throws when it
    /// could not; the relay then retries the same event later, so a publisher must not report success for
    /// an event it may have lost.
    func publish(_ event: UserEventEnvelope) async throws
}
