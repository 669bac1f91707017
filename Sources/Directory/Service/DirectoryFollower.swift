import Foundation
public import Logging
import Metrics
public import ServiceLifecycle
public import UserDomain
public import UserPorts
import ServiceSupport
import UserAppCore

/// Keeps a `DirectoryReplica` (another service's own database) from a user service's events: backfilled
/// from its event history, then followed from a broker queue. A swift-service-lifecycle `Service`.
///
/// The broker side stays outside (this target links no broker client): the wiring hands
/// ``dispositions(_:positions:)`` (an array of events in, what to do with each out) to a consumer as its batch
/// handler, and gives ``init(replica:history:pageSize:retryBackoff:gapSightings:gapAge:lossCheckInterval:logger:queueDeclared:)``
/// a `queueDeclared` that returns once the consumer's durable queue and binding exist. The order is what makes
/// it gap-free:
///
/// 1. ``run()`` waits for the queue, so every event published from then on is queued;
/// 2. it backfills from the replica's `DirectoryReplica.backfillPosition()` until a page without `next`
///    (everything published before the queue existed is in the history);
/// 3. then the handler applies deliveries, the ones that arrived together in one replica transaction
///    (until then it waits, and the messages wait unacknowledged): applied or duplicate: the consumer
///    acknowledges; a gap: it backfills once more and applies again; still a gap: the consumer puts the
///    message back with a backoff (the missing event is on its way: the relay holds a user's later events
///    behind an unpublished one). The one-event `handle(_:)` throws ``FollowerGap`` then.
///
/// A failing backfill (the user service down) is retried with a doubling backoff until it succeeds or the
/// service shuts down; ``isBackfilled`` stays `false` until then. Log lines name the source by its redacted
/// URL only; no token is ever logged.
public final class DirectoryFollower<Replica: DirectoryReplica>: Service {
    let replica: Replica
    let history: any EventHistorySource
    private let pageSize: Int
    let retryBackoff: ClosedRange<Duration>
    let logger: Logger
    let queueDeclared: @Sendable () async throws -> Void
    let gate = FollowerGate()
    private let gapSightings: Int
    private let gapAge: Duration
    /// The events seen behind a gap after a backfill, by event id: how often, since when.
    private let gaps = Locked<[UUID: (sightings: Int, since: ContinuousClock.Instant)]>([:])
    let lastBackfillFailure = Locked<String?>(nil)
    private let lastApplyFailure = Locked<String?>(nil)
    /// The highest source position below which every event is applied (``reachedPosition``), and the positions
    /// above it applied from deliveries, waiting for the ones between.
    let reach = Locked<(position: Int64, above: Set<Int64>)>((0, []))
    /// Whether a backfill asked for by a consistency token runs (one at a time).
    private let catchingUp = Locked(false)
    /// Whether the replica's store lost data and ``run()`` is to reset and rebuild it.
    let lost = Locked(false)
    /// Raised when a loss is noted, so that ``run()`` rebuilds at once.
    let lossSignal = CommitSignal()
    let lossCheckInterval: Duration
    /// Raised whenever ``reachedPosition`` moves: directory queries waiting for a consistency token wake on it.
    public let progress = CommitSignal()
    private let metrics = FollowerMetrics()

    /// Creates a follower.
    ///
    /// - Parameters:
    ///   - replica: the read model it keeps.
    ///   - history: the user service's event history.
    ///   - pageSize: events per history page (1…1000).
    ///   - retryBackoff: the doubling delay between failed backfill attempts.
    ///   - gapSightings: with `gapAge`, when an event behind a gap is given up (``dispositions(_:positions:)``): after it
    ///     was seen behind the gap, a backfill notwithstanding, this many times …
    ///   - gapAge: … and for at least this long since the first time.
    ///   - lossCheckInterval: how often the replica is asked whether its store lost data, between deliveries
    ///     (a delivery that finds it so starts the rebuild at once).
    ///   - logger: for the backfill's progress and failures.
    ///   - queueDeclared: returns once the broker queue the handler is fed from exists and is bound.
    public init(
        replica: Replica, history: any EventHistorySource, pageSize: Int = 500,
        retryBackoff: ClosedRange<Duration> = .milliseconds(100)...(.seconds(5)), gapSightings: Int = 20,
        gapAge: Duration = .seconds(60), lossCheckInterval: Duration = .seconds(1), logger: Logger,
        queueDeclared: @escaping @Sendable () async throws -> Void
    ) {
        self.lossCheckInterval = lossCheckInterval
        self.gapSightings = max(1, gapSightings)
        self.gapAge = gapAge
        self.replica = replica
        self.history = history
        self.pageSize = min(1000, max(1, pageSize))
        self.retryBackoff = retryBackoff
        self.logger = logger
        self.queueDeclared = queueDeclared
    }

    /// Whether the directory is complete: the first backfill finished, and no rebuild after a loss of the
    /// replica's data runs (deliveries are being applied).
    public var isBackfilled: Bool { gate.isOpen }

    /// The highest position of the user service's event log up to which every event is applied here: moved by
    /// each backfill and by deliveries that carry their position (the relay's publisher sets it), over the
    /// positions they fill without a gap. Kept as the replica's backfill position, so that a `Consistency-Token`
    /// of the user service at or below it is answered (`DirectoryQueries` over the replica) and a restart
    /// backfills from it.
    public var reachedPosition: EventPosition? {
        let position = reach.withLock { $0.position }
        return position > 0 ? EventPosition(rawValue: position) : nil
    }

    /// Why the last backfill failed, until one succeeds (a safe sentence: no token): for a readiness check.
    public var backfillFailure: String? { lastBackfillFailure.withLock { $0 } }

    /// Why the replica refused the last batch (its storage failed: a full disk, a file removed), until a batch
    /// is applied again: for a readiness check, so that a directory that can't apply anything is not ready.
    public var applyFailure: String? { lastApplyFailure.withLock { $0 } }

    /// Applies one delivered event. Waits until the first backfill finished.
    ///
    /// - Throws: ``FollowerGap`` when the event's previous version is missing even after a backfill (the
    ///   consumer puts the message back); the replica's and the history's errors; `CancellationError` when
    ///   a shutdown begins while it waits for the backfill.
    public func handle(_ event: UserEventEnvelope) async throws {
        if case .gap(let applied) = try await handle([event])[0] {
            throw FollowerGap(userID: event.userID, version: event.userVersion, appliedVersion: applied)
        }
    }

    /// Applies the events a consumer delivered together, in one replica transaction: the consumer's batch
    /// handler. Waits until the first backfill finished. When some follow a gap, it backfills once and
    /// applies those again (in one more transaction).
    ///
    /// - Returns: for each event, at the same index: `ReplicaOutcome.applied`, `.duplicate`, or
    ///   `.gap(appliedVersion:)` when its user's previous version is still missing after the backfill (the consumer puts that message back: the missing event
    ///   is on its way).
    /// - Throws: the replica's and the history's errors; `CancellationError` when a shutdown begins while it
    ///   waits for the backfill.
    public func handle(_ events: [UserEventEnvelope]) async throws -> [ReplicaOutcome] {
        while true {
            try await cancelWhenGracefulShutdown { try await self.gate.wait() }
            do {
                return try await applyFillingGaps(events)
            } catch let error as UserStoreError where error.code == .dataLost {
                noteLoss(error)  // the gate is closed until run() rebuilt the replica; then these are applied
            }
        }
    }

    /// Applies, and backfills once for events behind a gap and applies those again.
    private func applyFillingGaps(_ events: [UserEventEnvelope]) async throws -> [ReplicaOutcome] {
        var outcomes = try await applyNoting(events)
        let behind = outcomes.indices.filter { if case .gap = outcomes[$0] { true } else { false } }
        guard let first = behind.first else { return outcomes }
        logger.info(
            "directory saw a gap; backfilling",
            metadata: [
                "user.id": "\(events[first].userID)", "user.version": "\(events[first].userVersion)",
                "events.behind": "\(behind.count)",
            ])
        _ = try await backfill()
        let again = try await applyNoting(behind.map { events[$0] })
        for (index, outcome) in zip(behind, again) { outcomes[index] = outcome }
        return outcomes
    }

    /// What the consumer does with each event of a batch: ``handle(_:)-([UserEventEnvelope])`` applies them,
    /// then an applied or duplicate event is ``FollowerDisposition/acknowledge``, one behind a gap
    /// ``FollowerDisposition/requeue`` (its predecessor is on its way: the relay holds a user's later events
    /// behind an unpublished one), until the gap has outlasted the bound (`gapSightings` sightings and `gapAge`
    /// since the first: a predecessor that was forged, lost or trimmed from the history never comes): then
    /// ``FollowerDisposition/park``, and it is logged at `error`.
    ///
    /// - Throws: as ``handle(_:)-([UserEventEnvelope])``.
    ///
    /// `positions` (at the same indices, when the deliveries carry them) move ``reachedPosition`` over the
    /// positions applied without a gap.
    public func dispositions(_ events: [UserEventEnvelope], positions: [EventPosition?] = []) async throws
        -> [FollowerDisposition]
    {
        let outcomes = try await handle(events)
        try await noteDeliveries(outcomes, positions: positions)
        let now = ContinuousClock.now
        return gaps.withLock { gaps in
            zip(events, outcomes).map { event, outcome in
                guard case .gap(let applied) = outcome else {
                    gaps[event.eventID] = nil
                    return .acknowledge
                }
                var seen = gaps[event.eventID] ?? (0, now)
                seen.sightings += 1
                guard seen.sightings >= gapSightings, now - seen.since >= gapAge else {
                    if gaps.count >= 100_000 { gaps.removeAll() }  // a bound on memory; they start over
                    gaps[event.eventID] = seen
                    return .requeue
                }
                gaps[event.eventID] = nil
                metrics.parked.increment()
                logger.error(
                    "directory gives up an event whose predecessor never came; it is parked",
                    metadata: [
                        "event.id": "\(event.eventID)", "user.id": "\(event.userID)",
                        "user.version": "\(event.userVersion)", "applied.version": "\(applied)",
                        "sightings": "\(seen.sightings)", "since": "\(now - seen.since)",
                    ])
                return .park
            }
        }
    }

    /// Applies to the replica, noting whether its storage refused (``applyFailure``).
    private func applyNoting(_ events: [UserEventEnvelope]) async throws -> [ReplicaOutcome] {
        do {
            let outcomes = try await replica.apply(events)
            metrics.count(outcomes, of: events)
            lastApplyFailure.withLock { $0 = nil }
            return outcomes
        } catch is CancellationError {
            throw CancellationError()
        } catch let error as UserStoreError where error.code == .dataLost {
            throw error  // not a refusal: handle(_:) has the replica rebuilt
        } catch {
            lastApplyFailure.withLock { $0 = "\(error)" }
            throw error
        }
    }

    /// Moves ``reachedPosition`` over the positions of the deliveries applied now or before, when they close
    /// the gap above it; a position it reaches is kept as the replica's backfill position.
    private func noteDeliveries(_ outcomes: [ReplicaOutcome], positions: [EventPosition?]) async throws {
        let done = zip(outcomes, positions).compactMap { outcome, position -> Int64? in
            if case .gap = outcome { return nil }
            return position?.rawValue
        }
        guard !done.isEmpty else { return }
        let moved = reach.withLock { reach -> Int64? in
            let before = reach.position
            for position in done where position > reach.position { reach.above.insert(position) }
            while reach.above.remove(reach.position + 1) != nil { reach.position += 1 }
            // A bound on memory: positions that never come (a rolled-back transaction took them) hold the rest
            // above them; the next backfill moves past them.
            if reach.above.count > 100_000 { reach.above.removeAll() }
            return reach.position > before ? reach.position : nil
        }
        guard let moved else { return }
        _ = try await replica.apply([], reaching: EventPosition(rawValue: moved))
        metrics.position.record(moved)
        progress.signal()
    }

    /// Moves ``reachedPosition`` to where a backfill reached.
    private func noteBackfill(reaching position: Int64) {
        let moved = reach.withLock { reach -> Bool in
            guard position > reach.position else { return false }
            reach.position = position
            reach.above = reach.above.filter { $0 > position }
            while reach.above.remove(reach.position + 1) != nil { reach.position += 1 }
            return true
        }
        if moved {
            metrics.position.record(reach.withLock { $0.position })
            progress.signal()
        }
    }

    /// Backfills once for a directory read waiting for `token` above ``reachedPosition`` (an event on its way, or
    /// a position no event took): the history has it if the user service committed it. One such backfill runs
    /// at a time; a read that finds one running waits on ``progress`` instead.
    public func catchUp(to token: EventPosition) async {
        guard isBackfilled, token.rawValue > reach.withLock({ $0.position }) else { return }
        guard catchingUp.withLock({ running in
            defer { running = true }
            return !running
        }) else { return }
        defer { catchingUp.withLock { $0 = false } }
        do {
            try await backfill()
        } catch {
            logger.debug("a backfill for a consistency token failed", metadata: ["error": "\(error)"])
        }
    }

    /// Reads the history from the replica's backfill position to its end.
    @discardableResult
    public func backfill() async throws -> ReplicaBackfillResult {
        try await backfill(fromStart: false)
    }

    /// Reads the history to its end, from its start or from the replica's backfill position.
    func backfill(fromStart: Bool) async throws -> ReplicaBackfillResult {
        var total = ReplicaBackfillResult()
        var after = fromStart ? nil : try await replica.backfillPosition()
        var reached = after?.rawValue ?? 0  // where the replica's backfill position stands (it never moves back)
        while true {
            try Task.checkCancellation()
            let page = try await history.events(after: after, limit: pageSize)
            guard let last = page.items.last?.position else { break }
            let events = page.items.map(\.envelope)
            let outcomes = try await replica.apply(events, reaching: last)
            total += metrics.count(outcomes, of: events)
            reached = max(reached, last.rawValue)
            guard let next = page.next, next > (after ?? EventPosition(rawValue: 0)) else { break }
            after = next
        }
        noteBackfill(reaching: reached)
        return total
    }
}
