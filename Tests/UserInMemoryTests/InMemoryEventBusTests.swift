import Foundation
import Synchronization
import Testing
import UserDomain
import UserInMemory
import UserPorts

@Suite("InMemoryEventBus")
struct InMemoryEventBusTests {
    func event(_ version: Int) -> UserEventEnvelope {
        UserEventEnvelope(
            eventID: UUID(), userID: UserID("00000000-0000-4000-8000-000000000001")!, userVersion: version,
            occurredAt: Date(epochMilliseconds: 1_000), event: .deactivated)
    }

    @Test("every subscriber receives every event in order")
    func fanOut() async throws {
        let bus = InMemoryEventBus()
        let first = await bus.subscribe()
        let second = await bus.subscribe()
        let events = (1...50).map(event)
        for e in events { try await bus.publish(e) }
        await bus.finish()
        var a: [UserEventEnvelope] = []
        for await e in first { a.append(e) }
        var b: [UserEventEnvelope] = []
        for await e in second { b.append(e) }
        #expect(a == events)
        #expect(b == events)
    }

    @Test("a full buffer makes publish wait instead of dropping")
    func backPressure() async throws {
        let bus = InMemoryEventBus()
        let subscription = await bus.subscribe(bufferSize: 2)
        let events = (1...20).map(event)
        let producer = Task {
            for e in events { try await bus.publish(e) }
            await bus.finish()
        }
        var received: [UserEventEnvelope] = []
        for await e in subscription {
            received.append(e)
            await Task.yield()
        }
        try await producer.value
        #expect(received == events)
    }

    @Test("publish waits while the buffer is full, and resumes when the consumer reads")
    func publishBlocksWhenFull() async throws {
        let bus = InMemoryEventBus()
        let subscription = await bus.subscribe(bufferSize: 1)
        try await bus.publish(event(1))
        let publishedSecond = Task { try await bus.publish(event(2)) }
        var iterator = subscription.makeAsyncIterator()
        #expect(await iterator.next()?.userVersion == 1)
        try await publishedSecond.value
        #expect(await iterator.next()?.userVersion == 2)
    }

    @Test("a cancelled publisher that is waiting for room throws CancellationError")
    func cancelledPublisher() async throws {
        let bus = InMemoryEventBus()
        let subscription = await bus.subscribe(bufferSize: 1)
        try await bus.publish(event(1))
        let blocked = Task { try await bus.publish(event(2)) }
        blocked.cancel()
        await #expect(throws: CancellationError.self) { try await blocked.value }
        withExtendedLifetime(subscription) {}
    }

    @Test("a released subscription no longer holds the bus back")
    func releasedSubscriber() async throws {
        let bus = InMemoryEventBus()
        do {
            let dropped = await bus.subscribe(bufferSize: 1)
            _ = dropped
        }
        for version in 1...10 { try await bus.publish(event(version)) }
        #expect(await bus.subscriberCount == 0)
    }

    @Test("a consumer that stops iterating, and keeps no sequence, is removed; the others keep receiving")
    func stoppedConsumer() async throws {
        let bus = InMemoryEventBus()
        var quitter: EventSubscription? = await bus.subscribe(bufferSize: 1)
        let stayer = await bus.subscribe(bufferSize: 100)
        let consumer = Task { [quitter] in
            for await e in quitter! where e.userVersion == 1 { break }
        }
        quitter = nil
        try await bus.publish(event(1))
        await consumer.value
        for version in 2...10 { try await bus.publish(event(version)) }
        await bus.finish()
        var received: [Int] = []
        for await e in stayer { received.append(e.userVersion) }
        #expect(received == Array(1...10))
    }

    @Test("cancelling the consuming task ends its sequence")
    func cancelledConsumer() async throws {
        let bus = InMemoryEventBus()
        let subscription = await bus.subscribe()
        let consumer = Task {
            var count = 0
            for await _ in subscription { count += 1 }
            return count
        }
        consumer.cancel()
        #expect(await consumer.value == 0)
        try await bus.publish(event(1))
    }

    @Test("for await over the subscription subscribe() returns, kept by nothing else, receives every event")
    func iteratedTemporarySubscription() async throws {
        let bus = InMemoryEventBus()
        let ended = Mutex(false)
        let consumer = Task {
            var versions: [Int] = []
            for await event in await bus.subscribe() { versions.append(event.userVersion) }
            ended.withLock { $0 = true }
            return versions
        }
        // The subscription exists once the bus counts it (or, as before the fix, once the loop ended).
        while await bus.subscriberCount == 0, !ended.withLock({ $0 }) { await Task.yield() }
        try await bus.publish(event(1))
        try await bus.publish(event(2))
        await bus.finish()
        #expect(await consumer.value == [1, 2])
    }

    @Test("an iterator kept without its sequence keeps the subscription")
    func iteratorOnly() async throws {
        let bus = InMemoryEventBus()
        var iterator = await bus.subscribe().makeAsyncIterator()
        try await bus.publish(event(1))
        try await bus.publish(event(2))
        #expect(await iterator.next()?.userVersion == 1)
        #expect(await iterator.next()?.userVersion == 2)
        #expect(await bus.subscriberCount == 1)
    }
}
