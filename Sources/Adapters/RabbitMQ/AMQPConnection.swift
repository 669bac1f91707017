import CRabbitMQ
import Foundation

/// One rabbitmq-c connection with one channel (number 1), opened and logged in.
///
/// Every call blocks (it reads and writes the socket), so an instance lives in an ``AMQPWorker``, whose
/// queue is the only thread that touches it. Not Sendable: the worker's actor isolation is what keeps it on
/// that queue. After any error that leaves the connection unusable, ``isOpen`` is false and the owner drops it.
final class AMQPConnection {
    let state: amqp_connection_state_t
    let url: RabbitMQURL
    /// Whether the connection can still be used.
    private(set) var isOpen = false
    /// The channel every operation uses.
    static let channel: amqp_channel_t = 1
    /// After `confirm.select`: the delivery tag of the next publish (1, 2, … per channel).
    var nextDeliveryTag: UInt64 = 1
    /// Which connection of its worker this is (1, 2, …): a delivery tag is only valid on its own connection.
    var generation: UInt64 = 0

    /// Connects, logs in with `url`'s user name and password, and opens channel 1.
    ///
    /// - Parameters:
    ///   - heartbeat: the heartbeat interval to ask for, in seconds (0: none).
    ///   - timeout: for the TCP (and TLS) connect, the login and every later RPC.
    /// - Throws: ``RabbitMQError`` `unreachable`, `timeout`, `accessRefused`, `unknownVirtualHost`,
    ///   `connectionLost` or `protocolError`.
    init(url: RabbitMQURL, heartbeat: Int, timeout: Duration) throws(RabbitMQError) {
        guard let state = amqp_new_connection() else {
            throw RabbitMQError(.protocolError, "rabbitmq-c could not allocate a connection.")
        }
        self.state = state
        self.url = url
        let socket = url.usesTLS ? amqp_ssl_socket_new(state) : amqp_tcp_socket_new(state)
        // From here on, a throw runs deinit, which destroys the connection state: no destroy on these paths.
        guard let socket else {
            throw RabbitMQError(.protocolError, "rabbitmq-c could not create a socket for \(url.redacted).")
        }
        if url.usesTLS {
            amqp_ssl_socket_set_verify_peer(socket, 1)
            amqp_ssl_socket_set_verify_hostname(socket, 1)
            if let file = url.caCertificateFile, amqp_ssl_socket_set_cacert(socket, file) != 0 {
                throw RabbitMQError(.invalidURL, "The CA file of \(url.redacted) can't be read.")
            }
        }
        var wait = timeval(timeout)
        let opened = amqp_socket_open_noblock(socket, url.host, Int32(url.port), &wait)
        guard opened == AMQP_STATUS_OK.rawValue else {
            let code: RabbitMQError.Code =
                switch opened {
                case AMQP_STATUS_TIMEOUT.rawValue: .timeout
                case AMQP_STATUS_SSL_PEER_VERIFY_FAILED.rawValue, AMQP_STATUS_SSL_HOSTNAME_VERIFY_FAILED.rawValue:
                    .certificateRefused
                default: .unreachable
                }
            throw RabbitMQError(
                code, "RabbitMQ at \(url.redacted) is unreachable: \(String(cString: amqp_error_string2(opened))).")
        }
        _ = amqp_set_handshake_timeout(state, &wait)
        _ = amqp_set_rpc_timeout(state, &wait)
        isOpen = true
        let login = user_domain_amqp_login_plain(
            state, url.virtualHost, 0, 131_072, Int32(heartbeat), url.user, url.password)
        do {
            try check(login, "logging in")
            _ = amqp_channel_open(state, Self.channel)
            try check(amqp_get_rpc_reply(state), "opening a channel")
        } catch {
            close()
            throw error
        }
    }

    deinit {
        close()
        amqp_destroy_connection(state)
    }

    /// Closes the connection (politely when it is still open); idempotent.
    func close() {
        guard isOpen else { return }
        isOpen = false
        // Short: a broker that is gone must not hold the owner's queue for the RPC timeout.
        var wait = timeval(.milliseconds(500))
        _ = amqp_set_rpc_timeout(state, &wait)
        _ = amqp_connection_close(state, Int32(AMQP_REPLY_SUCCESS))
    }

    /// Marks the connection unusable without talking to the broker (after a socket error).
    func markLost() {
        isOpen = false
    }

    /// Throws the error that `reply` reports, if any.
    func check(_ reply: amqp_rpc_reply_t, _ doing: String) throws(RabbitMQError) {
        if reply.reply_type == AMQP_RESPONSE_NORMAL { return }
        throw error(reply, doing)
    }

    /// The error `reply` reports. A connection or channel close from the broker leaves the connection unusable.
    func error(_ reply: amqp_rpc_reply_t, _ doing: String) -> RabbitMQError {
        let at = "RabbitMQ at \(url.redacted)"
        switch reply.reply_type {
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            return libraryError(reply.library_error, doing)
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            switch Int(reply.reply.id) {
            case USER_DOMAIN_AMQP_CONNECTION_CLOSE:
                let close = reply.reply.decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
                var ok = amqp_connection_close_ok_t(dummy: 0)
                _ = amqp_send_method(state, 0, amqp_method_number_t(USER_DOMAIN_AMQP_CONNECTION_CLOSE_OK), &ok)
                markLost()
                return Self.closeError(Int(close.reply_code), close.reply_text.string, at, doing)
            case USER_DOMAIN_AMQP_CHANNEL_CLOSE:
                let closing = reply.reply.decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
                var ok = amqp_channel_close_ok_t(dummy: 0)
                _ = amqp_send_method(
                    state, Self.channel, amqp_method_number_t(USER_DOMAIN_AMQP_CHANNEL_CLOSE_OK), &ok)
                close()  // one channel per connection: the connection is started afresh
                return RabbitMQError(
                    .protocolError, "\(at) refused \(doing): \(closing.reply_text.string)",
                    replyCode: Int(closing.reply_code))
            default:
                markLost()
                return RabbitMQError(.protocolError, "\(at) sent an unexpected method while \(doing).")
            }
        default:
            markLost()
            return RabbitMQError(.protocolError, "\(at) gave no reply while \(doing).")
        }
    }

    /// The error of a negative rabbitmq-c status code.
    func libraryError(_ status: Int32, _ doing: String) -> RabbitMQError {
        let at = "RabbitMQ at \(url.redacted)"
        let text = String(cString: amqp_error_string2(status))
        if status == AMQP_STATUS_TIMEOUT.rawValue {
            markLost()  // a reply that comes later would be read as the answer to the next call
            return RabbitMQError(.timeout, "\(at) did not answer in time while \(doing).")
        }
        markLost()
        return RabbitMQError(.connectionLost, "The connection to \(at) was lost while \(doing): \(text).")
    }

    /// The error of a connection.close the broker sent.
    static func closeError(_ code: Int, _ text: String, _ at: String, _ doing: String) -> RabbitMQError {
        switch code {
        case Int(AMQP_ACCESS_REFUSED):
            return RabbitMQError(
                .accessRefused, "\(at) refused the login (wrong user name or password, or no access): \(text)",
                replyCode: code)
        case Int(AMQP_NOT_ALLOWED) where text.contains("vhost"):
            return RabbitMQError(.unknownVirtualHost, "\(at): the virtual host does not exist: \(text)", replyCode: code)
        case Int(AMQP_CONNECTION_FORCED):
            return RabbitMQError(.connectionLost, "\(at) closed the connection: \(text)", replyCode: code)
        default:
            return RabbitMQError(.protocolError, "\(at) closed the connection while \(doing): \(text)", replyCode: code)
        }
    }

    /// Declares a durable exchange.
    func declareExchange(_ name: String, type: String, arguments: [(String, AMQPArena.Field)] = [])
        throws(RabbitMQError)
    {
        let arena = AMQPArena()
        _ = amqp_exchange_declare(
            state, Self.channel, arena.bytes(name), arena.bytes(type), 0, 1, 0, 0, arena.table(arguments))
        try check(amqp_get_rpc_reply(state), "declaring the exchange \(name)")
    }

    /// Declares a durable queue.
    func declareQueue(_ name: String, arguments: [(String, AMQPArena.Field)] = []) throws(RabbitMQError) {
        let arena = AMQPArena()
        _ = amqp_queue_declare(state, Self.channel, arena.bytes(name), 0, 1, 0, 0, arena.table(arguments))
        try check(amqp_get_rpc_reply(state), "declaring the queue \(name)")
    }

    /// Binds `queue` to `exchange` with `pattern`.
    func bind(queue: String, exchange: String, pattern: String) throws(RabbitMQError) {
        let arena = AMQPArena()
        _ = amqp_queue_bind(
            state, Self.channel, arena.bytes(queue), arena.bytes(exchange), arena.bytes(pattern),
            amqp_table_t(num_entries: 0, entries: nil))
        try check(amqp_get_rpc_reply(state), "binding the queue \(queue)")
    }

    /// Deletes a queue (for tests and tools).
    func deleteQueue(_ name: String) throws(RabbitMQError) {
        let arena = AMQPArena()
        _ = amqp_queue_delete(state, Self.channel, arena.bytes(name), 0, 0)
        try check(amqp_get_rpc_reply(state), "deleting the queue \(name)")
    }

    /// The number of ready messages in `queue` (a passive declare: fails when the queue does not exist).
    func messageCount(queue: String) throws(RabbitMQError) -> Int {
        let arena = AMQPArena()
        let ok = amqp_queue_declare(state, Self.channel, arena.bytes(queue), 1, 0, 0, 0, amqp_table_t(num_entries: 0, entries: nil))
        try check(amqp_get_rpc_reply(state), "counting the messages of \(queue)")
        return Int(ok?.pointee.message_count ?? 0)
    }

    /// Turns on publisher confirms for the channel.
    func selectConfirms() throws(RabbitMQError) {
        _ = amqp_confirm_select(state, Self.channel)
        try check(amqp_get_rpc_reply(state), "turning on publisher confirms")
        nextDeliveryTag = 1
    }

    /// Reads whatever the broker sent meanwhile without waiting (this also sends a heartbeat when one is
    /// due) and reports whether the connection is still alive. Frames other than a close are dropped:
    /// outside a batch no confirm is awaited.
    func serviceHeartbeats() -> RabbitMQError? {
        guard isOpen else { return RabbitMQError(.connectionLost, "The connection to RabbitMQ at \(url.redacted) is closed.") }
        var frame = amqp_frame_t()
        while true {
            var zero = timeval(tv_sec: 0, tv_usec: 0)
            let status = amqp_simple_wait_frame_noblock(state, &frame, &zero)
            if status == AMQP_STATUS_TIMEOUT.rawValue { return nil }
            if status != AMQP_STATUS_OK.rawValue { return libraryError(status, "waiting") }
            if let failure = closeFrame(frame, "waiting") { return failure }
        }
    }

    /// The error a connection.close or channel.close frame means (answering it), or `nil` for other frames.
    func closeFrame(_ frame: amqp_frame_t, _ doing: String) -> RabbitMQError? {
        guard frame.frame_type == UInt8(AMQP_FRAME_METHOD) else { return nil }
        let id = Int(frame.payload.method.id)
        guard id == USER_DOMAIN_AMQP_CONNECTION_CLOSE || id == USER_DOMAIN_AMQP_CHANNEL_CLOSE else { return nil }
        var reply = amqp_rpc_reply_t()
        reply.reply_type = AMQP_RESPONSE_SERVER_EXCEPTION
        reply.reply = frame.payload.method
        return error(reply, doing)
    }
}
