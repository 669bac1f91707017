import UserPorts

/// A single-consumer, multi-producer channel with a bounded buffer and back-pressure: a producer waits
/// while the buffer is full. Finishing it lets the consumer drain the buffer, then ends it; producers
/// still waiting are told the channel closed.
///
/// Every decision is taken under one lock, inside the continuation's body, so that a producer and the
/// consumer can never both decide to wait for each other. Invariant: the consumer only waits while the
/// buffer is empty and no producer waits; producers only wait while the buffer is full (or others wait).
final class BoundedChannel<Element: Sendable>: Sendable {
    enum SendResult {
        case delivered
        case closed
        case cancelled
    }

    private struct Producer {
        let id: UInt64
        let element: Element
        let continuation: CheckedContinuation<SendResult, Never>
    }

    private struct State {
        var buffer: [Element] = []
        var consumer: CheckedContinuation<Element?, Never>?
        var producers: [Producer] = []
        var nextProducerID: UInt64 = 0
        var finished = false
    }

    private let capacity: Int
    private let state = Locked(State())

    init(capacity: Int) {
        self.capacity = capacity
    }

    var isFinished: Bool { state.withLock { $0.finished } }

    /// Sends an element, waiting while the buffer is full.
    func send(_ element: Element) async -> SendResult {
        let id = state.withLock { state in
            state.nextProducerID += 1
            return state.nextProducerID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<SendResult, Never>) in
                let (result, consumer) = state.withLock {
                    state -> (SendResult?, CheckedContinuation<Element?, Never>?) in
                    if state.finished { return (.closed, nil) }
                    if Task.isCancelled { return (.cancelled, nil) }
                    if let consumer = state.consumer {
                        state.consumer = nil
                        return (.delivered, consumer)
                    }
                    if state.buffer.count < capacity && state.producers.isEmpty {
                        state.buffer.append(element)
                        return (.delivered, nil)
                    }
                    state.producers.append(Producer(id: id, element: element, continuation: continuation))
                    return (nil, nil)
                }
                consumer?.resume(returning: element)
                if let result { continuation.resume(returning: result) }
            }
        } onCancel: {
            let producer = state.withLock { state -> Producer? in
                guard let index = state.producers.firstIndex(where: { $0.id == id }) else { return nil }
                return state.producers.remove(at: index)
            }
            producer?.continuation.resume(returning: .cancelled)
        }
    }

    /// The next element; `nil` once the channel is finished and drained, or when the consumer is cancelled
    /// (which also finishes the channel, as with `AsyncStream`).
    func receive() async -> Element? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Element?, Never>) in
                let (ready, element, producer, cancelled) = state.withLock {
                    state -> (Bool, Element?, Producer?, Bool) in
                    if !state.buffer.isEmpty {
                        let element = state.buffer.removeFirst()
                        guard !state.producers.isEmpty else { return (true, element, nil, false) }
                        let producer = state.producers.removeFirst()
                        state.buffer.append(producer.element)
                        return (true, element, producer, false)
                    }
                    if !state.producers.isEmpty {
                        let producer = state.producers.removeFirst()
                        return (true, producer.element, producer, false)
                    }
                    if state.finished { return (true, nil, nil, false) }
                    if Task.isCancelled { return (true, nil, nil, true) }
                    state.consumer = continuation
                    return (false, nil, nil, false)
                }
                producer?.continuation.resume(returning: .delivered)
                if cancelled { finish() }
                if ready { continuation.resume(returning: element) }
            }
        } onCancel: {
            let consumer = state.withLock { state -> CheckedContinuation<Element?, Never>? in
                defer { state.consumer = nil }
                return state.consumer
            }
            consumer?.resume(returning: nil)
            finish()
        }
    }

    /// Ends the channel: the consumer drains the buffer and then receives `nil`; waiting producers are
    /// released with `.closed`.
    func finish() {
        let (consumer, producers) = state.withLock {
            state -> (CheckedContinuation<Element?, Never>?, [Producer]) in
            guard !state.finished else { return (nil, []) }
            state.finished = true
            let consumer = state.consumer
            state.consumer = nil
            defer { state.producers.removeAll() }
            return (consumer, state.producers)
        }
        consumer?.resume(returning: nil)
        for producer in producers { producer.continuation.resume(returning: .closed) }
    }
}
