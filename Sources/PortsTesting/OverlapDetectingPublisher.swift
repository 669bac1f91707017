public import UserDomain
public import UserPorts

/// A publisher for tests of several relays: it records every event and notices when two publish calls
/// overlap, which two relays publishing at the same time would cause. Each call holds for a moment
/// (200 µs) so that an overlap has a window to show.
public actor OverlapDetectingPublisher: MessagePublisher {
    /// Every event published, in call order.
    public private(set) var events: [UserEventEnvelope] = []
    /// Whether two publish calls were ever in flight at once.
    public private(set) var overlapped = false
    private var inFlight = 0
    private let recorded = CommitSignal()

    /// Creates a publisher.
    public init() {}

    /// Records the event.
    public func publish(_ event: UserEventEnvelope) async throws {
        inFlight += 1
        if inFlight > 1 { overlapped = true }
        try? await Task.sleep(for: .microseconds(200))
        events.append(event)
        inFlight -= 1
        recorded.signal()
    }

    /// Waits until at least `count` events were published; `timeout` is a safety net against a hang (see
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
