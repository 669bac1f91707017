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

    /// Creates a publisher.
    public init() {}

    /// Records the event.
    public func publish(_ event: UserEventEnvelope) async throws {
        inFlight += 1
        if inFlight > 1 { overlapped = true }
        try? await Task.sleep(for: .microseconds(200))
        events.append(event)
        inFlight -= 1
    }

    /// Waits until `count` events were published or about 30 seconds passed.
    ///
    /// - Returns: whether `count` was reached.
    public func waitForEvents(count: Int) async -> Bool {
        for _ in 0..<30_000 {
            if events.count >= count { return true }
            try? await Task.sleep(for: .milliseconds(1))
        }
        return false
    }
}
