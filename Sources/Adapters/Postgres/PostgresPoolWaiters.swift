import Dispatch
import UserPorts

/// The callers waiting for a pooled connection, first come first served, and the one timer that expires
/// them: the pool's single deadline mechanism (no task per waiter).
///
/// Every waiter waits for the same acquire timeout, so the first in line always has the earliest deadline;
/// the timer is armed for it, and when it fires it fails every waiter whose deadline has passed and re-arms
/// for the next. The queue is guarded by a lock rather than owned by the pool's actor, so that the timer
/// (on a dispatch queue of its own) fails a waiter without a hop into the actor, and a waiter is resumed
/// exactly once: by the pool (with a connection, or with the right to make one), by the timer, or by
/// ``failAll(_:)``.
final class PostgresPoolWaiters: @unchecked Sendable {
    // @unchecked Sendable is sound: every stored property is immutable; `state` is a `Locked`, and `timer`,
    // the one that is not Sendable, is a dispatch source, whose methods libdispatch documents as safe to
    // call from any thread; here they are called only with `state`'s lock held (or in deinit), so arming
    // and cancelling are ordered with the queue they are about.

    /// What a waiter is given.
    enum Grant: Sendable {
        /// A healthy connection, handed over as it was released.
        case connection(PostgresWorker)
        /// A slot in the pool's size, already counted: the waiter's own task makes the connection.
        case connect
    }

    private struct Waiter {
        let deadline: ContinuousClock.Instant
        let continuation: CheckedContinuation<Grant, any Error>
    }

    private struct State {
        var waiters: [Waiter] = []
        /// The index of the first waiter still waiting (the ones before it were resumed): FIFO without
        /// shifting the array on every hand-over.
        var head = 0
        /// The deadline the timer is armed for, if any.
        var armedFor: ContinuousClock.Instant?

        var isEmpty: Bool { head == waiters.count }

        mutating func popFirst() -> Waiter? {
            guard !isEmpty else { return nil }
            let waiter = waiters[head]
            head += 1
            if head == waiters.count {
                waiters.removeAll(keepingCapacity: true)
                head = 0
            }
            return waiter
        }
    }

    private let timeout: Duration
    private let timedOut: @Sendable () -> any Error
    private let state = Locked(State())
    /// Fires at the first waiter's deadline; never scheduled while nobody waits (a dispatch source has no
    /// thread of its own: its handler runs on a dispatch queue only when it fires).
    private let timer: any DispatchSourceTimer

    /// Waiters that fail with `timedOut()` after `timeout`.
    init(timeout: Duration, timedOut: @escaping @Sendable () -> any Error) {
        self.timeout = timeout
        self.timedOut = timedOut
        self.timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "user-postgres.pool-timer"))
        timer.setEventHandler { [weak self] in self?.expire() }
        timer.activate()
    }

    deinit {
        timer.cancel()
    }

    /// How many callers wait: for tests that must know a caller is in line.
    var count: Int { state.withLock { $0.waiters.count - $0.head } }

    /// Waits in line until the pool grants a connection or a slot, or the timeout passes.
    func wait() async throws -> Grant {
        try await withCheckedThrowingContinuation { continuation in
            let deadline = ContinuousClock.now + timeout
            state.withLock { state in
                state.waiters.append(Waiter(deadline: deadline, continuation: continuation))
                arm(&state)
            }
        }
    }

    /// Resumes the first waiter with `grant`; `false` when nobody waits (then the caller keeps what it
    /// meant to give).
    func grantFirst(_ grant: Grant) -> Bool {
        guard let waiter = state.withLock({ $0.popFirst() }) else { return false }
        waiter.continuation.resume(returning: grant)
        return true
    }

    /// Fails every waiter with `error` (the pool closed).
    func failAll(_ error: any Error) {
        let waiters = state.withLock { state in
            var all: [Waiter] = []
            while let waiter = state.popFirst() { all.append(waiter) }
            timer.schedule(deadline: .distantFuture)
            state.armedFor = nil
            return all
        }
        for waiter in waiters { waiter.continuation.resume(throwing: error) }
    }

    /// Arms the timer for the first waiter's deadline unless it is armed for that one already.
    private func arm(_ state: inout State) {
        guard !state.isEmpty else { return }
        let deadline = state.waiters[state.head].deadline
        if let armed = state.armedFor, armed <= deadline { return }
        let left = max(.zero, ContinuousClock.now.duration(to: deadline))
        let nanoseconds = left.components.seconds * 1_000_000_000 + left.components.attoseconds / 1_000_000_000
        timer.schedule(deadline: .now() + .nanoseconds(Int(clamping: nanoseconds)), leeway: .milliseconds(1))
        state.armedFor = deadline
    }

    /// The timer fired: fails the waiters whose deadline passed and re-arms for the next one.
    private func expire() {
        let now = ContinuousClock.now
        let expired = state.withLock { state in
            var expired: [Waiter] = []
            while !state.isEmpty, state.waiters[state.head].deadline <= now, let waiter = state.popFirst() {
                expired.append(waiter)
            }
            state.armedFor = nil
            arm(&state)
            return expired
        }
        for waiter in expired { waiter.continuation.resume(throwing: timedOut()) }
    }
}
