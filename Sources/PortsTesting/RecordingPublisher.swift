public import Foundation
public import UserDomain
public import UserPorts

/// A `MessagePublisher` that records what it is given, and can be told to fail: the fake for relay and
/// consumer tests.
public actor RecordingPublisher: MessagePublisher {
    /// When the publisher fails.
    public enum FailurePolicy: Sendable {
        /// It never fails.
        case never
        /// Every n-th call fails (the 3rd, 6th, … for `3`), before recording.
        case everyNthCall(Int)
        /// Calls whose event matches fail, every time.
        case when(@Sendable (UserEventEnvelope) -> Bool)
    }

    /// The error a failing call throws.
    public struct InjectedFailure: Error, Sendable, CustomStringConvertible {
        /// The call that failed, counting from 1.
        public let call: Int
        /// Describes the failure.
        public var description: String { "injected publisher failure on call \(call)" }
    }

    /// Every event published successfully, in order (with repeats, if the relay redelivered).
    public private(set) var events: [UserEventEnvelope] = []
    /// Every call, successful or not.
    public private(set) var callCount = 0
    /// Calls that failed.
    public private(set) var failureCount = 0
    private var policy: FailurePolicy
    private let recorded = CommitSignal()

    /// Creates a publisher.
    public init(failing policy: FailurePolicy = .never) {
        self.policy = policy
    }

    /// Changes when the publisher fails.
    public func setFailurePolicy(_ policy: FailurePolicy) {
        self.policy = policy
    }

    /// Records the event, or throws ``InjectedFailure`` as the policy says.
    public func publish(_ event: UserEventEnvelope) async throws {
        callCount += 1
        let fails =
            switch policy {
            case .never: false
            case .everyNthCall(let n): n > 0 && callCount % n == 0
            case .when(let predicate): predicate(event)
            }
        if fails {
            failureCount += 1
            throw InjectedFailure(call: callCount)
        }
        events.append(event)
        recorded.signal()
    }

    /// Waits until at least `count` events were recorded; `timeout` is a safety net against a hang (see
    /// ``Patience``), not a deadline.
    ///
    /// - Returns: whether `count` was reached; check it with `try #require(…)`.
    public func waitForEvents(count: Int, timeout: Duration = Patience.safetyNet) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while true {
            let seen = recorded.generation
            if events.count >= count { return true }
            let remaining = deadline - ContinuousClock.now
            if remaining <= .zero { return false }
            _ = await recorded.wait(after: seen, timeout: remaining)
        }
    }
}

/// A `WallClock` that stands still until told to move: for tests that check timestamps.
public final class ManualWallClock: WallClock {
    private let current: Locked<Date>

    /// Creates a clock showing `start`.
    public init(start: Date = Date(timeIntervalSince1970: 1_764_000_000)) {
        current = Locked(start)
    }

    /// The time the clock shows.
    public func now() -> Date { current.withLock { $0 } }

    /// Moves the clock forward.
    public func advance(by seconds: TimeInterval) {
        current.withLock { $0 += seconds }
    }
}
