import CRabbitMQ
import Foundation

/// A message delivered to a consumer, copied out of rabbitmq-c's buffers.
struct AMQPIncoming: Sendable {
    let generation: UInt64
    let deliveryTag: UInt64
    let redelivered: Bool
    let exchange: String
    let routingKey: String
    let messageID: String?
    let contentType: String?
    let deliveryMode: UInt8?
    let headers: [String: String]
    let body: Data
}

extension AMQPConnection {
    /// Sets the prefetch bound and starts consuming `queue` with manual acknowledgements.
    func startConsuming(queue: String, prefetch: Int) throws(RabbitMQError) {
        _ = amqp_basic_qos(state, Self.channel, 0, UInt16(clamping: max(1, prefetch)), 0)
        try check(amqp_get_rpc_reply(state), "setting the prefetch")
        let arena = AMQPArena()
        _ = amqp_basic_consume(
            state, Self.channel, arena.bytes(queue), amqp_bytes_t(len: 0, bytes: nil), 0, 0, 0,
            amqp_table_t(num_entries: 0, entries: nil))
        try check(amqp_get_rpc_reply(state), "starting to consume \(queue)")
    }

    /// Waits up to `timeout` for a delivery, then takes the ones that arrived with it or right behind it,
    /// without waiting again: at most `limit`, in delivery-tag order. Empty when none came within
    /// `timeout` (heartbeats are served meanwhile).
    ///
    /// - Throws: ``RabbitMQError`` when the connection or channel closed, or the broker cancelled the consumer.
    func nextDeliveries(limit: Int, timeout: Duration) throws(RabbitMQError) -> [AMQPIncoming] {
        guard let first = try nextDelivery(wait: timeval(timeout)) else { return [] }
        var deliveries = [first]
        while deliveries.count < limit, let next = try nextDelivery(wait: timeval(tv_sec: 0, tv_usec: 0)) {
            deliveries.append(next)
        }
        return deliveries
    }

    /// The next delivery, waiting up to `wait` (0: only what is buffered or readable now); `nil` when none
    /// came.
    private func nextDelivery(wait: timeval) throws(RabbitMQError) -> AMQPIncoming? {
        guard isOpen else {
            throw RabbitMQError(.connectionLost, "The connection to RabbitMQ at \(url.redacted) is closed.")
        }
        amqp_maybe_release_buffers(state)
        var envelope = amqp_envelope_t()
        var wait = wait
        let reply = amqp_consume_message(state, &envelope, &wait, 0)
        if reply.reply_type == AMQP_RESPONSE_NORMAL {
            defer { amqp_destroy_envelope(&envelope) }
            let properties = envelope.message.properties
            func has(_ flag: Int32) -> Bool { properties._flags & amqp_flags_t(flag) != 0 }
            return AMQPIncoming(
                generation: generation,
                deliveryTag: envelope.delivery_tag,
                redelivered: envelope.redelivered != 0,
                exchange: envelope.exchange.string,
                routingKey: envelope.routing_key.string,
                messageID: has(AMQP_BASIC_MESSAGE_ID_FLAG) ? properties.message_id.string : nil,
                contentType: has(AMQP_BASIC_CONTENT_TYPE_FLAG) ? properties.content_type.string : nil,
                deliveryMode: has(AMQP_BASIC_DELIVERY_MODE_FLAG) ? properties.delivery_mode : nil,
                headers: has(AMQP_BASIC_HEADERS_FLAG) ? properties.headers.textEntries : [:],
                body: envelope.message.body.data)
        }
        if reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION {
            if reply.library_error == AMQP_STATUS_TIMEOUT.rawValue { return nil }
            if reply.library_error == AMQP_STATUS_UNEXPECTED_STATE.rawValue {
                // A frame other than a delivery: read it; a close or a cancel ends the consumer's connection.
                var frame = amqp_frame_t()
                let status = amqp_simple_wait_frame(state, &frame)
                if status != AMQP_STATUS_OK.rawValue { throw libraryError(status, "consuming") }
                if let error = closeFrame(frame, "consuming") { throw error }
                if frame.frame_type == UInt8(AMQP_FRAME_METHOD), Int(frame.payload.method.id) == USER_DOMAIN_AMQP_BASIC_CANCEL {
                    close()
                    throw RabbitMQError(.connectionLost, "RabbitMQ at \(url.redacted) cancelled the consumer (queue deleted?).")
                }
                return nil
            }
        }
        throw error(reply, "consuming")
    }

    /// Acknowledges one delivery, or with `multiple` every delivery up to and including `tag` on the channel
    /// not acknowledged or rejected yet.
    func ack(_ tag: UInt64, multiple: Bool = false) throws(RabbitMQError) {
        let status = amqp_basic_ack(state, Self.channel, tag, multiple ? 1 : 0)
        if status != AMQP_STATUS_OK.rawValue { throw libraryError(status, "acknowledging") }
    }

    /// Rejects one delivery: back to the queue (`requeue`), or to the queue's dead-letter exchange.
    func reject(_ tag: UInt64, requeue: Bool) throws(RabbitMQError) {
        let status = amqp_basic_reject(state, Self.channel, tag, requeue ? 1 : 0)
        if status != AMQP_STATUS_OK.rawValue { throw libraryError(status, "rejecting") }
    }
}
