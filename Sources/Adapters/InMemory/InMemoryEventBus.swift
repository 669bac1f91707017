public import UserDomain
public import UserPorts

/// An in-process publish/subscribe bus for user events: the `MessagePublisher` of a single process.
///
/// Each subscriber gets its own ``EventSubscription``, an `AsyncSequence` with a bounded buffer. The bus
/// never drops an event for a live subscriber: when a subscriber's buffer is full, ``publish(_:)`` waits
/// until it has room, and that back-pressure slows the outbox relay instead of losing events (they stay in
/// the outbox meanwhile). A subscription whose iterating task is cancelled, or whose sequence and iterators
/// are all released, is removed and no longer holds the bus back. Events published before a subscription
/// began are not replayed to it.
public actor InMemoryEventBus: MessagePublisher {
    private var channels: [BoundedChannel<UserEventEnvelope>] = []
    private var isFinished = false

    /// Creates a bus with no subscribers.
    public init() {}

    /// Subscribes to every event published from now on.
    ///
    /// - Parameter bufferSize: how many events may wait for this subscriber before ``publish(_:)`` waits
    ///   for it (at least 1).
    public func subscribe(bufferSize: Int = 256) -> EventSubscription {
        let channel = BoundedChannel<UserEventEnvelope>(capacity: max(1, bufferSize))
        if isFinished {
            channel.finish()
        } else {
            channels.append(channel)
        }
        return EventSubscription(channel: channel)
    }

    /// The number of live subscribers.
    public var subscriberCount: Int {
        channels.removeAll { $0.isFinished }
        return channels.count
    }

    /// Delivers the event to every live subscriber, waiting for room in full buffers.
    ///
    /// - Throws: `CancellationError` when the calling task is cancelled while waiting; the relay then
    ///   publishes the event again later.
    public func publish(_ event: UserEventEnvelope) async throws {
        let targets = channels
        for channel in targets {
            switch await channel.send(event) {
            case .delivered, .closed: continue
            case .cancelled: throw CancellationError()
            }
        }
        channels.removeAll { $0.isFinished }
    }

    /// Ends every subscription: each subscriber receives what is buffered and then the end of its
    /// sequence. Later subscriptions end at once.
    public func finish() {
        isFinished = true
        for channel in channels { channel.finish() }
        channels.removeAll()
    }
}

/// The events of one subscriber of an ``InMemoryEventBus``, in publication order.
///
/// Iterate it once, from one task: `for await event in await bus.subscribe() { … }` receives every event
/// published from the moment `subscribe()` returned. The subscription lives as long as the sequence or any
/// iterator made from it: it ends when the bus finishes, when the iterating task is cancelled, or when the
/// sequence and every iterator made from it are released (after a `break` out of a loop over a temporary
/// sequence, say). A sequence kept in a variable keeps the subscription, and its buffer, alive: while it
/// is full, ``InMemoryEventBus/publish(_:)`` waits.
public struct EventSubscription: AsyncSequence, Sendable {
    /// The element type.
    public typealias Element = UserEventEnvelope
    /// The error type: iteration never throws.
    public typealias Failure = Never

    private let handle: Handle

    init(channel: BoundedChannel<UserEventEnvelope>) {
        self.handle = Handle(channel: channel)
    }

    /// Makes the iterator; it shares the subscription with the sequence, so that either keeps it alive.
    public func makeAsyncIterator() -> Iterator {
        Iterator(handle: handle)
    }

    /// Iterates the subscription.
    public struct Iterator: AsyncIteratorProtocol {
        let handle: Handle

        /// The next event, or `nil` when the subscription ended.
        public mutating func next() async -> UserEventEnvelope? {
            await handle.channel.receive()
        }

        /// The next event, or `nil` when the subscription ended.
        public mutating func next(isolation actor: isolated (any Actor)?) async -> UserEventEnvelope? {
            await handle.channel.receive()
        }
    }

    /// Ends the subscription when the last reference goes: the sequence's copies and every iterator made
    /// from them hold this one object.
    final class Handle: Sendable {
        let channel: BoundedChannel<UserEventEnvelope>
        init(channel: BoundedChannel<UserEventEnvelope>) { self.channel = channel }
        deinit { channel.finish() }
    }
}
