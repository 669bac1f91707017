public import Logging
import Metrics
public import ServiceLifecycle
import UserDomain

/// Moves committed events from a store's outbox to a ``MessagePublisher``: at least once, in order.
///
/// The relay reads unpublished events in position order, publishes them one by one and marks them
/// published after each batch. When the publisher fails, the events published so far are marked, and the
/// failed event is retried after an exponential backoff with jitter; nothing after it is published first,
/// so every user's events arrive in order. A crash between publishing and marking republishes at most the
/// batch in flight: consumers deduplicate by event id.
///
/// Run it as a swift-service-lifecycle `Service` (it waits on the store's ``CommitSignal`` and polls at
/// ``Configuration/pollInterval`` for commits it can't see), or call ``publishPendingEvents()`` to drain
/// the outbox once. On graceful shutdown it finishes the batch in flight and returns.
///
/// Metrics (swift-metrics): `users_outbox_published_total`, `users_outbox_publish_failures_total`.
public struct OutboxRelay<Outbox: EventOutbox, Publisher: MessagePublisher>: Service {
    /// How the relay batches, polls and backs off.
    public struct Configuration: Sendable {
        /// Events read and published per batch.
        public var batchSize: Int
        /// The longest the relay sleeps when no commit signal arrives.
        public var pollInterval: Duration
        /// The first delay after a publisher failure.
        public var initialBackoff: Duration
        /// The longest delay between retries.
        public var maximumBackoff: Duration

        /// Creates a configuration; the defaults suit most services.
        public init(
            batchSize: Int = 100,
            pollInterval: Duration = .seconds(1),
            initialBackoff: Duration = .milliseconds(50),
            maximumBackoff: Duration = .seconds(30)
        ) {
            self.batchSize = max(1, batchSize)
            self.pollInterval = pollInterval
            self.initialBackoff = initialBackoff
            self.maximumBackoff = max(initialBackoff, maximumBackoff)
        }
    }

    private let outbox: Outbox
    private let publisher: Publisher
    private let configuration: Configuration
    private let logger: Logger
    private let published = Counter(label: "users_outbox_published_total")
    private let failures = Counter(label: "users_outbox_publish_failures_total")

    /// Creates a relay.
    public init(outbox: Outbox, publisher: Publisher, configuration: Configuration = .init(), logger: Logger) {
        self.outbox = outbox
        self.publisher = publisher
        self.configuration = configuration
        self.logger = logger
    }

    /// Publishes until the task is cancelled or a graceful shutdown begins.
    ///
    /// Publisher and store failures are logged and retried with backoff; they never end the loop.
    public func run() async throws {
        var consecutiveFailures = 0
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let seen = outbox.commitSignal.generation
            do {
                let count = try await publishBatch()
                consecutiveFailures = 0
                if count == configuration.batchSize { continue }
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
        logger.debug("outbox relay stopped")
    }

    /// Publishes every event that is unpublished now, batch after batch, and returns how many it published.
    ///
    /// - Throws: the first publisher or store error; events published before it are marked.
    @discardableResult
    public func publishPendingEvents() async throws -> Int {
        var total = 0
        while true {
            let count = try await publishBatch()
            total += count
            if count < configuration.batchSize { return total }
        }
    }

    /// Publishes one batch; returns how many events it published.
    private func publishBatch() async throws -> Int {
        let batch = try await outbox.unpublishedEvents(limit: configuration.batchSize)
        guard !batch.isEmpty else { return 0 }
        var done: [EventPosition] = []
        done.reserveCapacity(batch.count)
        do {
            for entry in batch {
                try await publisher.publish(entry.envelope)
                done.append(entry.position)
            }
        } catch {
            failures.increment()
            if !done.isEmpty {
                try await outbox.markPublished(done)
                published.increment(by: Int64(done.count))
            }
            throw error
        }
        try await outbox.markPublished(done)
        published.increment(by: Int64(done.count))
        return done.count
    }

    private func backoff(afterFailures failures: Int) -> Duration {
        let exponent = min(failures - 1, 30)
        let base = configuration.initialBackoff * (1 << exponent)
        let capped = min(base, configuration.maximumBackoff)
        // "Equal jitter": between half and all of the capped delay, so retries of many relays spread out.
        return capped * Double.random(in: 0.5...1.0)
    }
}
