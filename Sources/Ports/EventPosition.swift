public import UserDomain

/// Where an event stands in a store's event log: positions grow with every committed event.
///
/// Positions are assigned by the store when it commits; later commits may hold lower positions than earlier
/// ones in stores with concurrent writers, so a reader must never assume that nothing below the highest
/// position it saw can still appear. The outbox relay reads "unpublished" events for that reason.
public struct EventPosition: RawRepresentable, Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    /// The position as stored.
    public let rawValue: Int64

    /// Wraps a stored position.
    public init(rawValue: Int64) {
        self.rawValue = rawValue
    }

    /// Orders by position.
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The position as a decimal number.
    public var description: String { String(rawValue) }
}

/// A committed event, its position in the store's event log, and its delivery state.
public struct OutboxEvent: Hashable, Sendable {
    /// Where the event is in the log.
    public let position: EventPosition
    /// The event.
    public let envelope: UserEventEnvelope
    /// Failed attempts to publish it so far.
    public let attempts: Int
    /// Why the last attempt failed, or `nil` when none did.
    public let lastError: String?

    /// Creates an entry.
    public init(position: EventPosition, envelope: UserEventEnvelope, attempts: Int = 0, lastError: String? = nil) {
        self.position = position
        self.envelope = envelope
        self.attempts = attempts
        self.lastError = lastError
    }
}
