import Foundation
public import UserDomain

/// An idempotent consumer for tests and in-process use: it applies an event's effect to its state unless it
/// processed that event id before, and records the id in the same step, so a redelivered event (the relay
/// delivers at least once) has no second effect.
///
/// The state and the processed ids live in one actor, so "apply the effect" and "record the id" are one
/// atomic step, as a database transaction makes them in the SQL variants.
///
/// ```swift
/// let counter = InMemoryIdempotentConsumer(state: 0)
/// await counter.handle(event) { count in count += 1 }   // true: applied
/// await counter.handle(event) { count in count += 1 }   // false: a duplicate, nothing applied
/// ```
public actor InMemoryIdempotentConsumer<State: Sendable> {
    /// The consumer's state: what its effects built.
    public private(set) var state: State
    private var processed: Set<UUID> = []

    /// Creates a consumer with an initial state.
    public init(state: State) {
        self.state = state
    }

    /// Applies `effect` unless `event` was processed before; a throwing effect changes nothing and leaves
    /// the event unprocessed, so a redelivery applies it again.
    ///
    /// - Returns: `true` when the effect was applied, `false` for a duplicate.
    @discardableResult
    public func handle(_ event: UserEventEnvelope, _ effect: (inout State) throws -> Void) rethrows -> Bool {
        guard !processed.contains(event.eventID) else { return false }
        var next = state
        try effect(&next)
        state = next
        processed.insert(event.eventID)
        return true
    }

    /// Applies `effect` to each event not processed before, in order, all or nothing: a throwing effect
    /// leaves the state and the processed ids as they were, as a rolled-back transaction does in the SQL
    /// variants.
    ///
    /// - Returns: for each event, at the same index, `true` when its effect was applied, `false` for a
    ///   duplicate (processed before, or earlier in `events`).
    @discardableResult
    public func handle(_ events: [UserEventEnvelope], _ effect: (inout State, UserEventEnvelope) throws -> Void)
        rethrows -> [Bool]
    {
        var next = state
        var seen = processed
        var applied: [Bool] = []
        applied.reserveCapacity(events.count)
        for event in events {
            let isNew = seen.insert(event.eventID).inserted
            if isNew { try effect(&next, event) }
            applied.append(isNew)
        }
        state = next
        processed = seen
        return applied
    }

    /// Whether `event` was processed.
    public func hasProcessed(_ event: UserEventEnvelope) -> Bool {
        processed.contains(event.eventID)
    }
}
