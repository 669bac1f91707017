/// The exchanges and the queue that publisher and consumers share: both declare them (idempotently, with
/// the same arguments, which RabbitMQ requires), so either may start first.
///
/// - ``exchange``: a durable topic exchange; each event is published with its type as the routing key
///   (`user.registered`, `user.renamed`, …), so a consumer binds `user.#` for all or a type for one.
/// - ``alternateExchange`` and ``unroutedQueue``: the exchange's `alternate-exchange` argument names a
///   durable fanout exchange bound to a durable queue. A message that no binding of the main exchange
///   routes (no consumer queue exists yet, or none wants its type) goes there instead of being dropped, and
///   the broker still confirms it: the outbox can be drained before any consumer exists.
///
/// Why an alternate exchange, and what a late consumer does: the alternative, `mandatory` returns, would
/// make the relay retry unroutable events forever (and a consumer that never binds a type would hold the
/// outbox of that user hostage). With the alternate exchange the broker keeps them. A consumer that binds
/// later must not rely on that queue alone: the defensible way (the one this package takes) is that a
/// consumer starting late *backfills from the event history* of the user service (events with a position
/// after its checkpoint, by HTTP) and then follows the broker, dropping duplicates by event id; the
/// unrouted queue is a safety net to inspect or replay (``RabbitMQConsumer/Configuration/drainsUnrouted``
/// makes a consumer read it too), and it is bounded by nothing but the broker's disk, so operate it: give it
/// a length limit or a TTL by policy (`rabbitmqctl set_policy`) when no consumer drains it. Messages are
/// still published with `mandatory`, so that an unroutable message even the alternate exchange cannot take
/// (its queue deleted) fails the publish (``RabbitMQError/Code/unroutable``) instead of vanishing.
public struct RabbitMQTopology: Sendable, Hashable {
    /// The topic exchange events are published to; `users.events` by default.
    public var exchange: String
    /// The fanout exchange named as the main exchange's `alternate-exchange`; `<exchange>.unrouted` by default.
    public var alternateExchange: String
    /// The durable queue bound to the alternate exchange; `<exchange>.unrouted` by default.
    public var unroutedQueue: String

    /// Creates a topology; the alternate exchange and its queue default to `<exchange>.unrouted`.
    public init(exchange: String = "users.events", alternateExchange: String? = nil, unroutedQueue: String? = nil) {
        self.exchange = exchange
        self.alternateExchange = alternateExchange ?? exchange + ".unrouted"
        self.unroutedQueue = unroutedQueue ?? exchange + ".unrouted"
    }

    /// Declares the exchanges and the unrouted queue.
    func declare(on connection: AMQPConnection) throws(RabbitMQError) {
        try connection.declareExchange(alternateExchange, type: "fanout")
        try connection.declareQueue(unroutedQueue)
        try connection.bind(queue: unroutedQueue, exchange: alternateExchange, pattern: "")
        try connection.declareExchange(exchange, type: "topic", arguments: [("alternate-exchange", .string(alternateExchange))])
    }
}
