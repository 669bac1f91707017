extension RabbitMQConsumer {
    /// The kind of queue a consumer declares.
    public enum QueueType: Sendable, Hashable {
        /// A classic queue.
        case classic
        /// A quorum queue (`x-queue-type: quorum`): replicated, the choice on a cluster.
        case quorum

        var arguments: [(String, AMQPArena.Field)] {
            switch self {
            case .classic: []
            case .quorum: [("x-queue-type", .string("quorum"))]
            }
        }
    }

    /// What a ``RabbitMQConsumer`` consumes, and how.
    public struct Configuration: Sendable {
        /// The broker (`amqp://user:pass@host:5672/vhost` or `amqps://…`).
        public var url: RabbitMQURL
        /// The exchanges, declared as the publisher declares them.
        public var topology: RabbitMQTopology
        /// The consumer's durable queue, e.g. `directory.user-events`.
        public var queue: String
        /// Where poison messages are parked; `<queue>.parked` by default.
        public var parkingQueue: String
        /// The routing patterns bound to the queue; `["user.#"]`, every user event, by default.
        public var bindings: [String]
        /// Classic or quorum.
        public var queueType: QueueType
        /// The most unacknowledged messages the broker sends ahead (`basic.qos`).
        public var prefetch: Int
        /// The most deliveries handed to the handler at once (at most ``prefetch``): those that arrived
        /// together; the consumer never waits to fill a batch.
        public var batchSize: Int
        /// Whether the consumer also takes the messages in the topology's unrouted queue (events published
        /// before any queue was bound): for the one consumer of a deployment that binds `user.#`, since
        /// consumers of that queue share its messages.
        public var drainsUnrouted: Bool
        /// The heartbeat interval asked of the broker (whole seconds; 0 turns heartbeats off).
        public var heartbeat: Duration
        /// For the TCP connect, the login and each declaration.
        public var timeout: Duration
        /// The backoff between connect attempts.
        public var reconnectBackoff: ClosedRange<Duration>
        /// The delay before a message whose handler failed goes back to the queue: doubling, jittered.
        public var retryBackoff: ClosedRange<Duration>
        /// How long one wait for a delivery lasts before the consumer checks for shutdown.
        public var pollInterval: Duration

        /// Creates a configuration from the broker's URL as text, as the publisher's configuration takes it:
        /// the queue `queue` on the topic exchange `exchange`, bound to `bindings`.
        ///
        /// - Throws: ``RabbitMQError`` code ``RabbitMQError/Code/invalidURL`` (its message shows the URL redacted).
        public init(
            url: String, exchange: String = "users.events", queue: String, bindings: [String] = ["user.#"],
            queueType: QueueType = .classic, prefetch: Int = 100, batchSize: Int = 100
        ) throws(RabbitMQError) {
            self.init(
                url: try RabbitMQURL(url), topology: RabbitMQTopology(exchange: exchange), queue: queue,
                bindings: bindings, queueType: queueType, prefetch: prefetch, batchSize: batchSize)
        }

        /// Creates a configuration.
        public init(
            url: RabbitMQURL, topology: RabbitMQTopology = .init(), queue: String, parkingQueue: String? = nil,
            bindings: [String] = ["user.#"], queueType: QueueType = .classic, prefetch: Int = 100,
            batchSize: Int = 100,
            drainsUnrouted: Bool = false, heartbeat: Duration = .seconds(10), timeout: Duration = .seconds(10),
            reconnectBackoff: ClosedRange<Duration> = .milliseconds(100)...(.seconds(5)),
            retryBackoff: ClosedRange<Duration> = .milliseconds(50)...(.seconds(5)),
            pollInterval: Duration = .milliseconds(200)
        ) {
            self.url = url
            self.topology = topology
            self.queue = queue
            self.parkingQueue = parkingQueue ?? queue + ".parked"
            self.bindings = bindings
            self.queueType = queueType
            self.prefetch = max(1, prefetch)
            self.batchSize = min(max(1, batchSize), self.prefetch)
            self.drainsUnrouted = drainsUnrouted
            self.heartbeat = heartbeat
            self.timeout = timeout
            self.reconnectBackoff = reconnectBackoff
            self.retryBackoff = retryBackoff
            self.pollInterval = pollInterval
        }
    }
}
