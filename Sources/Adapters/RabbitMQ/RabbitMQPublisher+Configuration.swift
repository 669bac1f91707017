extension RabbitMQPublisher {
    /// Where and how a ``RabbitMQPublisher`` publishes.
    public struct Configuration: Sendable {
        /// The broker (`amqp://user:pass@host:5672/vhost` or `amqps://…`).
        public var url: RabbitMQURL
        /// The exchanges and the unrouted queue (default exchange `users.events`).
        public var topology: RabbitMQTopology
        /// The heartbeat interval asked of the broker (whole seconds; 0 turns heartbeats off).
        public var heartbeat: Duration
        /// For the TCP connect, the login, each declaration, and a batch's confirms.
        public var timeout: Duration
        /// The backoff between connect attempts: doubling from the lower bound to the upper, jittered.
        public var reconnectBackoff: ClosedRange<Duration>
        /// How often ``RabbitMQPublisher/run()`` serves heartbeats and checks the connection.
        public var maintenanceInterval: Duration

        /// Creates a configuration for `url`.
        ///
        /// - Throws: ``RabbitMQError`` code `invalidURL` (its message shows the URL redacted).
        public init(
            url: String, exchange: String = "users.events", heartbeat: Duration = .seconds(10),
            timeout: Duration = .seconds(10),
            reconnectBackoff: ClosedRange<Duration> = .milliseconds(100)...(.seconds(5)),
            maintenanceInterval: Duration = .milliseconds(250)
        ) throws(RabbitMQError) {
            self.init(
                url: try RabbitMQURL(url), topology: RabbitMQTopology(exchange: exchange), heartbeat: heartbeat,
                timeout: timeout, reconnectBackoff: reconnectBackoff, maintenanceInterval: maintenanceInterval)
        }

        /// Creates a configuration from a parsed URL and a topology.
        public init(
            url: RabbitMQURL, topology: RabbitMQTopology = .init(), heartbeat: Duration = .seconds(10),
            timeout: Duration = .seconds(10),
            reconnectBackoff: ClosedRange<Duration> = .milliseconds(100)...(.seconds(5)),
            maintenanceInterval: Duration = .milliseconds(250)
        ) {
            self.url = url
            self.topology = topology
            self.heartbeat = heartbeat
            self.timeout = timeout
            self.reconnectBackoff = reconnectBackoff
            self.maintenanceInterval = maintenanceInterval
        }
    }
}
