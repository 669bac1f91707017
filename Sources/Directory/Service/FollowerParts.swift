import Foundation
import Metrics
import UserAppCore
public import UserDomain
import UserPorts

/// What a consumer does with a delivered event once the follower handled it (see
/// ``DirectoryFollower/dispositions(_:positions:)``).
public enum FollowerDisposition: Sendable, Hashable {
    /// Applied, or applied before: acknowledge it.
    case acknowledge
    /// Behind a gap that a later delivery may close: put it back.
    case requeue
    /// Behind a gap that outlasted the follower's bound: set it aside (a parking queue), never apply it.
    case park
}

/// An event whose user's previous version is missing from the replica, even after a backfill.
public struct FollowerGap: Error, Sendable, CustomStringConvertible {
    /// The user.
    public let userID: UserID
    /// The event's version.
    public let version: Int
    /// The version the replica holds (0: none).
    public let appliedVersion: Int

    /// A sentence for the log.
    public var description: String {
        "The event for user \(userID) at version \(version) follows a gap: the directory holds version "
            + "\(appliedVersion)."
    }
}

/// Waiters wait while it is closed, and resume when it opens.
final class FollowerGate: Sendable {
    private let state = Locked<(open: Bool, waiters: [UInt64: CheckedContinuation<Void, any Error>], next: UInt64)>(
        (false, [:], 0))

    var isOpen: Bool { state.withLock { $0.open } }

    /// Makes waiters wait again, until the next ``open()``.
    func close() {
        state.withLock { $0.open = false }
    }

    func open() {
        let waiters = state.withLock { state in
            state.open = true
            defer { state.waiters = [:] }
            return state.waiters.values
        }
        for waiter in waiters { waiter.resume() }
    }

    func wait() async throws {
        let id = state.withLock { state in
            state.next += 1
            return state.next
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let resumeNow = state.withLock { state -> Result<Void, any Error>? in
                    if state.open { return .success(()) }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    state.waiters[id] = continuation
                    return nil
                }
                if let resumeNow { continuation.resume(with: resumeNow) }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume(throwing: CancellationError())
        }
    }
}

/// The follower's figures, through swift-metrics (`GET /metrics` of the directory service): events applied,
/// duplicates and gaps (deliveries and backfill pages alike), events parked, the position reached and the lag
/// (how old the newest applied event was when it was applied).
struct FollowerMetrics: Sendable {
    let applied = Counter(label: "users_directory_applied_total")
    let duplicates = Counter(label: "users_directory_duplicates_total")
    let gaps = Counter(label: "users_directory_gaps_total")
    let parked = Counter(label: "users_directory_parked_total")
    let position = Gauge(label: "users_directory_position")
    let lag = Gauge(label: "users_directory_lag_seconds")

    /// Counts a batch's outcomes, and returns them counted.
    @discardableResult
    func count(_ outcomes: [ReplicaOutcome], of events: [UserEventEnvelope]) -> ReplicaBackfillResult {
        let result = ReplicaBackfillResult(counting: outcomes)
        if result.applied > 0 { applied.increment(by: result.applied) }
        if result.duplicates > 0 { duplicates.increment(by: result.duplicates) }
        if result.gaps > 0 { gaps.increment(by: result.gaps) }
        let newest = zip(events, outcomes).filter { $0.1 == .applied }.map(\.0.occurredAt).max()
        if let newest { lag.record(max(0, Date().timeIntervalSince(newest))) }
        return result
    }
}
