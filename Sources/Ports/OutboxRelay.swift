import Foundation
public import Logging
import Metrics
public import ServiceLifecycle
import UserDomain

/// Moves committed events from a store's outbox to a ``MessagePublisher``: at least once, in order per
/// user, in batches.
///
/// The relay reads the events that are due (``OutboxDelivery/unpublishedEvents(limit:)``), hands them to the
/// publisher in one call (``MessagePublisher/publish(_:notAfter:)``: a broker awaits the batch's confirms
/// together; other publishers go one by one) and marks the confirmed ones after each batch. When the publisher fails for an event, the failure is
/// recorded and the event is retried after an exponential backoff with jitter; the later events of the same
/// user wait behind it (so every user's events arrive in order) while other users' events keep flowing.
/// After ``OutboxRelayConfiguration/maximumAttempts`` failures the event is parked as dead: kept, counted in metrics,
/// listed by `users events dead` and revived by `users events retry` (``DeadLetters/retryDeadEvents(_:)``).
/// A crash between publishing and marking republishes at most the batch in flight: consumers deduplicate by
/// event id (`InMemoryIdempotentConsumer` of UserInMemory, `SQLiteIdempotentConsumer` of UserSQLite,
/// `PostgresIdempotentConsumer` of UserPostgres).
///
/// Several relays may run against one database: each batch is published only under the store's relay lease
/// (``RelayLease/acquireRelayLease(owner:duration:)``), held by one relay at a time and renewed before every
/// batch; standbys poll for it and take over when the holder stops or dies. A holder stops publishing when
/// its lease is less than a third of ``OutboxRelayConfiguration/leaseDuration`` from running out, so two relays never
/// publish at the same time even if one of them stalls.
///
/// Run it as a swift-service-lifecycle `Service` (it waits on the store's ``CommitSignal`` and polls at
/// ``OutboxRelayConfiguration/pollInterval`` for commits it can't see), or call ``publishPendingEvents()`` to drain
/// the outbox once. On graceful shutdown it finishes the batch in flight, gives up the lease and returns.
///
/// A publisher that can't be reached (``PublishOutcome/unavailable(_:)``: a broker down) counts no attempt:
/// the relay backs off as a whole, as after a store failure, and an outage of any length parks nothing as dead.
///
/// Metrics (swift-metrics): counters `users_outbox_published_total`, `users_outbox_retried_total` (failed
/// attempts that will be retried), `users_outbox_dead_total`; gauges `users_outbox_pending`,
/// `users_outbox_oldest_pending_age_seconds` (the outbox lag) and `users_outbox_dead`.
///
/// The publisher is held as `any MessagePublisher` (never behind a hand-written eraser): each batch goes to the
/// publisher's own ``MessagePublisher/publish(_:notAfter:)``, a broker's batched confirms included, whatever
/// the wiring (one dynamic call per batch).
public struct OutboxRelay<Outbox: OutboxDelivery & RelayLease>: Service {
    /// How the relay batches, polls, backs off, gives up and shares the work.
    public typealias Configuration = OutboxRelayConfiguration

    private let outbox: Outbox
    private let publisher: any MessagePublisher
    private let configuration: Configuration
    private let logger: Logger
    private let published = Counter(label: "users_outbox_published_total")
    private let retried = Counter(label: "users_outbox_retried_total")
    private let dead = Counter(label: "users_outbox_dead_total")
    private let pendingGauge = Gauge(label: "users_outbox_pending")
    private let lagGauge = Gauge(label: "users_outbox_oldest_pending_age_seconds")
    private let deadGauge = Gauge(label: "users_outbox_dead")

    /// Creates a relay.
    public init(
        outbox: Outbox, publisher: any MessagePublisher, configuration: Configuration = .init(), logger: Logger
    ) {
        self.outbox = outbox
        self.publisher = publisher
        self.configuration = configuration
        self.logger = logger
    }

    /// Publishes until the task is cancelled or a graceful shutdown begins.
    ///
    /// Store failures are logged and retried with backoff; they never end the loop.
    public func run() async throws {
        var consecutiveFailures = 0
        var lastStatus = ContinuousClock.now - .seconds(3600)
        var leading = false
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let seen = outbox.commitSignal.generation
            do {
                if ContinuousClock.now - lastStatus >= .seconds(1) {
                    lastStatus = ContinuousClock.now
                    try await reportStatus()
                }
                let outcome = try await publishBatch()
                consecutiveFailures = 0
                if outcome.leading != leading {
                    leading = outcome.leading
                    logger.info(
                        leading
                            ? "outbox relay holds the lease" : "outbox relay is on standby: another holds the lease",
                        metadata: ["relay.owner": "\(configuration.owner)"])
                }
                if hasMore(outcome) { continue }
                let signal = outbox.commitSignal
                let timeout = configuration.pollInterval
                _ = await cancelWhenGracefulShutdown { await signal.wait(after: seen, timeout: timeout) }
            } catch {
                if Task.isCancelled { break }
                consecutiveFailures += 1
                let delay = backoff(afterFailures: consecutiveFailures)
                logger.warning(
                    "outbox relay failed; retrying",
                    metadata: [
                        "error": "\(error)", "failures": "\(consecutiveFailures)", "retry.in": "\(delay)",
                    ])
                _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
            }
        }
        if leading { try? await outbox.releaseRelayLease(owner: configuration.owner) }
        logger.debug("outbox relay stopped")
    }

    /// Publishes every event that is due now, batch after batch, and returns how many it published. Events
    /// whose publishing fails are recorded for a later retry (or parked as dead) as ``run()`` does.
    ///
    /// The relay lease it takes is given back when it returns (or throws), so that a short-lived process (a
    /// command that writes, drains and exits) leaves none behind for the next one to wait out. When another
    /// relay holds the lease, nothing is published and a line at `notice` says so.
    ///
    /// - Returns: the number published; 0 when another relay holds the lease.
    /// - Throws: a store error, or an error saying the publisher is unavailable (it could not be reached, see
    ///   ``PublishOutcome/unavailable(_:)``; no attempt is counted); events published before it are marked. A
    ///   cancelled task returns what it published so far.
    @discardableResult
    public func publishPendingEvents() async throws -> Int {
        var total = 0
        var leading = false
        do {
            while true {
                let outcome = try await publishBatch()
                total += outcome.published
                if outcome.leading {
                    leading = true
                } else if !leading {
                    logger.notice(
                        "outbox relay published nothing: another relay holds the lease",
                        metadata: ["relay.owner": "\(configuration.owner)"])
                }
                if !hasMore(outcome) || Task.isCancelled { break }
            }
        } catch {
            // Given back whether or not a batch got through: a failed batch may have taken it. Only this relay's
            // own lease is ever released.
            try? await outbox.releaseRelayLease(owner: configuration.owner)
            throw error
        }
        if leading { try? await outbox.releaseRelayLease(owner: configuration.owner) }
        return total
    }

    private struct BatchOutcome {
        var leading = false
        var fetched = 0
        var stoppedEarly = false
        var published = 0
    }

    /// The publisher could not be reached: nothing of the batch was sent, no attempt is counted.
    struct PublisherUnavailable: Error, CustomStringConvertible {
        let underlying: any Error
        var description: String { "The publisher is unavailable: \(underlying)" }
    }

    /// Whether more events are due at once: a full batch, or one cut short to renew the lease.
    private func hasMore(_ outcome: BatchOutcome) -> Bool {
        outcome.leading && (outcome.stoppedEarly || outcome.fetched == configuration.batchSize)
    }

    /// Publishes one batch under the lease.
    private func publishBatch() async throws -> BatchOutcome {
        let leaseStart = ContinuousClock.now
        guard try await outbox.acquireRelayLease(owner: configuration.owner, duration: configuration.leaseDuration)
        else { return BatchOutcome() }
        // Stop publishing well before the lease can lapse: another relay may take it from then on.
        let deadline = leaseStart + configuration.leaseDuration * (2.0 / 3.0)
        let batch = try await outbox.unpublishedEvents(limit: configuration.batchSize)
        var outcome = BatchOutcome(leading: true, fetched: batch.count)
        guard !batch.isEmpty else { return outcome }
        guard !Task.isCancelled else { return outcome }  // the batch is left for whoever runs next
        // One call for the whole batch: a confirming broker awaits the confirms of all of it together.
        let results = await publisher.publish(batch, notAfter: deadline)
        var done: [EventPosition] = []
        done.reserveCapacity(batch.count)
        var failures: [(OutboxEvent, any Error)] = []
        var held: Set<UserID> = []
        var notAttempted = false
        var unavailable: (any Error)?  // why the publisher could not be reached, when it could not
        for (index, entry) in batch.enumerated() {
            let user = entry.envelope.userID
            // After a user's event did not go through, its later events wait, even if the publisher got them
            // out: they are published again after the retry, so per-user order holds for what is marked.
            if held.contains(user) { continue }
            let result = index < results.count ? results[index] : .notAttempted
            switch result {
            case .confirmed:
                done.append(entry.position)
            case .failed(let error) where error is CancellationError:
                held.insert(user)  // not an attempt: left for whoever runs next
            case .failed(let error):
                held.insert(user)
                failures.append((entry, error))
            case .notAttempted:
                held.insert(user)
                notAttempted = true
            case .unavailable(let error):
                held.insert(user)  // not an attempt: the whole relay backs off
                unavailable = error
            }
        }
        // Cut short by the lease margin: the rest goes in the next batch, under a renewed lease.
        outcome.stoppedEarly = notAttempted && ContinuousClock.now >= deadline && !Task.isCancelled
        do {
            for (entry, error) in failures { try await recordFailure(entry, error) }
        } catch {
            try await markPublished(done)
            throw error
        }
        try await markPublished(done)
        outcome.published = done.count
        if let unavailable { throw PublisherUnavailable(underlying: unavailable) }
        return outcome
    }

    private func markPublished(_ positions: [EventPosition]) async throws {
        guard !positions.isEmpty else { return }
        try await outbox.markPublished(positions)
        published.increment(by: Int64(positions.count))
    }

    /// Records a failed attempt: a retry after a backoff, or dead after the last attempt.
    private func recordFailure(_ entry: OutboxEvent, _ error: any Error) async throws {
        let attempts = entry.attempts + 1
        let reason = String(String(describing: error).prefix(500))
        if attempts >= configuration.maximumAttempts {
            try await outbox.markFailed(entry.position, reason: reason, retryAt: nil)
            dead.increment()
            logger.error(
                "outbox event parked as dead; its user's later events wait behind it",
                metadata: [
                    "event.position": "\(entry.position)", "event.id": "\(entry.envelope.eventID)",
                    "user.id": "\(entry.envelope.userID)", "attempts": "\(attempts)", "error": "\(reason)",
                ])
        } else {
            let delay = backoff(afterFailures: attempts)
            let seconds = Double(delay.components.seconds) + Double(delay.components.attoseconds) * 1e-18
            try await outbox.markFailed(entry.position, reason: reason, retryAt: Date().addingTimeInterval(seconds))
            retried.increment()
            logger.warning(
                "publishing an event failed; retrying it later",
                metadata: [
                    "event.position": "\(entry.position)", "user.id": "\(entry.envelope.userID)",
                    "attempts": "\(attempts)", "retry.in": "\(delay)", "error": "\(reason)",
                ])
        }
    }

    private func reportStatus() async throws {
        let status = try await outbox.outboxStatus()
        pendingGauge.record(status.pendingCount)
        deadGauge.record(status.deadCount)
        lagGauge.record(status.oldestPendingAt.map { max(0, Date().timeIntervalSince($0)) } ?? 0)
    }

    private func backoff(afterFailures failures: Int) -> Duration {
        let exponent = min(failures - 1, 30)
        let base = configuration.initialBackoff * (1 << exponent)
        let capped = min(base, configuration.maximumBackoff)
        // "Equal jitter": between half and all of the capped delay, so retries of many relays spread out.
        return capped * Double.random(in: 0.5...1.0)
    }
}
