public import UserDomain
public import UserPorts

/// An event as a ``RabbitMQConsumer`` hands it to its handler: the decoded envelope and how it arrived.
public struct RabbitMQDelivery: Sendable {
    /// The event.
    public let envelope: UserEventEnvelope
    /// The routing key it was published with (the event type).
    public let routingKey: String
    /// The exchange it was published to (the topology's exchange, also for a message that went through the
    /// alternate exchange and waited in the unrouted queue).
    public let exchange: String
    /// The AMQP `message_id` (the event id, as the publisher sets it).
    public let messageID: String?
    /// The AMQP `content_type` (`application/json`).
    public let contentType: String?
    /// The AMQP `delivery_mode` (2: persistent).
    public let deliveryMode: UInt8?
    /// The headers whose values are strings or integers, as text (`user-id`, `user-version`,
    /// `event-position`).
    public let headers: [String: String]
    /// Whether the broker delivered it before (to this or another consumer) without an acknowledgement.
    public let redelivered: Bool

    /// The event's position in the user service's event log (the `event-position` header the relay's publisher
    /// sets), or `nil` for a message without one: what a consumer compares with a `Consistency-Token`.
    public var position: EventPosition? {
        guard let text = headers["event-position"], let value = Int64(text), value > 0 else { return nil }
        return EventPosition(rawValue: value)
    }
}
