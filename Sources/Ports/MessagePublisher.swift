public import UserDomain

/// Where the outbox relay sends events: an in-memory bus, a log, a message broker.
///
/// Delivery through the relay is at least once and in order per user; consumers deduplicate by
/// `UserEventEnvelope.eventID`.
///
/// A publisher implements ``publish(_:)``; one that can confirm many events with one round trip (a broker
/// with publisher confirms) also implements ``publish(_:notAfter:)``, which the relay calls with each batch.
/// The default ``publish(_:notAfter:)`` publishes one event after another.
public protocol MessagePublisher: Sendable {
    /// Publishes one event.
    ///
    /// Returns when the destination has accepted the event (for a broker: confirmed it). Throws when it
    /// could not; the relay then retries the same event later, so a publisher must not report success for
    /// an event it may have lost.
    func publish(_ event: UserEventEnvelope) async throws

    /// Publishes a batch of events (in outbox order, each with its position in the store's log, which a
    /// broker's message may carry for its consumers' consistency tokens) and reports, for each, whether the
    /// destination accepted it: one element of the result per element of `events`, at the same index.
    ///
    /// Contract:
    /// - ``PublishOutcome/confirmed`` only for an event the destination accepted (a broker: confirmed);
    ///   an event that may be lost is ``PublishOutcome/failed(_:)``.
    /// - No event is begun at or after `deadline` (the relay's lease margin): such events are
    ///   ``PublishOutcome/notAttempted``. Events already sent may be awaited past it, up to the publisher's
    ///   own timeout.
    /// - After an event of a user failed, the publisher should not begin that user's later events
    ///   (``PublishOutcome/notAttempted``). A pipelining publisher may have sent them already; it reports
    ///   what happened to them, and the relay does not mark them published anyway (it republishes them after
    ///   the failed one, so a consumer that drops an event arriving ahead of a gap loses nothing).
    /// - Cancellation: events not begun are ``PublishOutcome/notAttempted``; events in flight may be
    ///   ``PublishOutcome/failed(_:)`` with `CancellationError`, which the relay does not count as an attempt.
    ///
    /// It never throws: a failure is an outcome of the events it concerns.
    func publish(_ events: [OutboxEvent], notAfter deadline: ContinuousClock.Instant) async -> [PublishOutcome]
}

/// What became of one event of a batch given to ``MessagePublisher/publish(_:notAfter:)``.
public enum PublishOutcome: Sendable {
    /// The destination accepted (confirmed) the event.
    case confirmed
    /// The event may not have arrived; the relay records the failure and retries it after a backoff.
    case failed(any Error)
    /// The event was not sent (deadline, cancellation, or an earlier event of its user failed); the relay
    /// leaves it due without counting an attempt.
    case notAttempted
    /// The destination could not be reached (not connected: a broker that is down, refuses the login, or a
    /// publisher that is not running), or the connection was lost before the destination confirmed the event:
    /// nothing is known against the event itself. The relay leaves the event due without counting an attempt,
    /// and backs off as a whole: an outage never parks events as dead.
    case unavailable(any Error)

    /// Whether this is ``confirmed``.
    public var isConfirmed: Bool {
        if case .confirmed = self { return true }
        return false
    }
}

extension MessagePublisher {
    /// Publishes the events one after another with ``publish(_:)``, in order: an event begins only after
    /// the previous one returned, none begins at or after `deadline`, and after a user's event failed,
    /// that user's later events are ``PublishOutcome/notAttempted``.
    public func publish(_ events: [OutboxEvent], notAfter deadline: ContinuousClock.Instant) async
        -> [PublishOutcome]
    {
        var outcomes: [PublishOutcome] = []
        outcomes.reserveCapacity(events.count)
        var failedUsers: Set<UserID> = []
        for event in events.lazy.map(\.envelope) {
            if failedUsers.contains(event.userID) || Task.isCancelled || ContinuousClock.now >= deadline {
                outcomes.append(.notAttempted)
                continue
            }
            do {
                try await publish(event)
                outcomes.append(.confirmed)
            } catch {
                failedUsers.insert(event.userID)
                outcomes.append(.failed(error))
            }
        }
        return outcomes
    }
}
