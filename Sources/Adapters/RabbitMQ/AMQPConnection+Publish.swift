import CRabbitMQ
import Foundation
import UserDomain
import UserPorts

/// One message to publish: what ``AMQPConnection/publishConfirmed(_:exchange:timeout:)`` sends for an event.
struct AMQPOutgoing: Sendable {
    let routingKey: String
    let messageID: String
    let body: [UInt8]
    let userID: String
    let userVersion: Int64
    /// The event's position in the source's log (the `event-position` header; 0: none).
    let position: Int64
    let timestamp: UInt64

    /// A message of raw bytes (for tools and tests: a poison message).
    init(routingKey: String, messageID: String, body: [UInt8]) {
        self.routingKey = routingKey
        self.messageID = messageID
        self.body = body
        userID = ""
        userVersion = 0
        position = 0
        timestamp = 0
    }

    init(_ envelope: UserEventEnvelope, position: EventPosition? = nil) {
        routingKey = envelope.type
        messageID = envelope.eventID.uuidString.lowercased()
        body = Array(envelope.jsonData())
        userID = "\(envelope.userID)"
        userVersion = Int64(envelope.userVersion)
        self.position = position?.rawValue ?? 0
        timestamp = UInt64(max(0, envelope.occurredAt.timeIntervalSince1970))
    }
}

extension AMQPConnection {
    /// Publishes `messages` (persistent, `application/json`, mandatory) and waits for their confirms
    /// together, until `timeout` has passed since the last was sent.
    ///
    /// - Returns: one outcome per message: confirmed after the broker's ack; failed after a nack, a return
    ///   (unroutable even through the alternate exchange), the timeout or a lost connection.
    func publishConfirmed(_ messages: [AMQPOutgoing], exchange: String, timeout: Duration) -> [PublishOutcome] {
        var outcomes = [PublishOutcome](repeating: .notAttempted, count: messages.count)
        guard !messages.isEmpty else { return outcomes }
        guard isOpen else {
            let error = RabbitMQError(.connectionLost, "The connection to RabbitMQ at \(url.redacted) is closed.")
            return [PublishOutcome](repeating: .failed(error), count: messages.count)
        }
        let firstTag = nextDeliveryTag
        var sent = 0
        let arena = AMQPArena()
        let exchangeBytes = arena.bytes(exchange)
        let contentType = arena.bytes("application/json")
        let userIDKey = arena.bytes("user-id")
        let userVersionKey = arena.bytes("user-version")
        let positionKey = arena.bytes("event-position")
        var sendFailure: RabbitMQError?
        for message in messages {
            let status = send(
                message, exchange: exchangeBytes, contentType: contentType, userIDKey: userIDKey,
                userVersionKey: userVersionKey, positionKey: positionKey)
            if status != AMQP_STATUS_OK.rawValue {
                sendFailure = libraryError(status, "publishing")
                break
            }
            sent += 1
            nextDeliveryTag += 1
        }
        if let sendFailure {
            // Nothing sent on a broken socket can be confirmed any more.
            return [PublishOutcome](repeating: .failed(sendFailure), count: messages.count)
        }
        // Wait for the acks of tags firstTag ..< firstTag + sent.
        var pending = sent
        var returned: Set<String> = []
        let deadline = ContinuousClock.now + timeout
        var frame = amqp_frame_t()
        func resolve(_ tag: UInt64, multiple: Bool, _ outcome: (Int) -> PublishOutcome) {
            let lower = multiple ? firstTag : tag
            guard tag >= firstTag else { return }  // a late confirm of an earlier batch
            for current in lower...min(tag, firstTag + UInt64(sent) - 1) {
                let index = Int(current - firstTag)
                guard case .notAttempted = outcomes[index] else { continue }
                outcomes[index] = outcome(index)
                pending -= 1
            }
        }
        while pending > 0 {
            let remaining = deadline - ContinuousClock.now
            if remaining <= .zero {
                markLost()  // confirms still in flight would be counted against the next batch's tags
                let error = RabbitMQError(
                    .timeout, "RabbitMQ at \(url.redacted) did not confirm \(pending) message(s) in \(timeout).")
                return outcomes.map { if case .notAttempted = $0 { .failed(error) } else { $0 } }
            }
            var wait = timeval(remaining)
            let status = amqp_simple_wait_frame_noblock(state, &frame, &wait)
            if status == AMQP_STATUS_TIMEOUT.rawValue { continue }
            if status != AMQP_STATUS_OK.rawValue {
                let error = libraryError(status, "waiting for confirms")
                return outcomes.map { if case .notAttempted = $0 { .failed(error) } else { $0 } }
            }
            if let error = closeFrame(frame, "publishing") {
                return outcomes.map { if case .notAttempted = $0 { .failed(error) } else { $0 } }
            }
            guard frame.frame_type == UInt8(AMQP_FRAME_METHOD), frame.channel == Self.channel else { continue }
            switch Int(frame.payload.method.id) {
            case USER_DOMAIN_AMQP_BASIC_ACK:
                let ack = frame.payload.method.decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
                resolve(ack.delivery_tag, multiple: ack.multiple != 0) { index in
                    if returned.contains(messages[index].messageID) {
                        return .failed(
                            RabbitMQError(
                                .unroutable,
                                "RabbitMQ at \(url.redacted) returned a message as unroutable: exchange \(exchange) "
                                    + "has no binding for \(messages[index].routingKey) and no alternate exchange."))
                    }
                    return .confirmed
                }
            case USER_DOMAIN_AMQP_BASIC_NACK:
                let nack = frame.payload.method.decoded.assumingMemoryBound(to: amqp_basic_nack_t.self).pointee
                let error = RabbitMQError(.nacked, "RabbitMQ at \(url.redacted) refused a message (basic.nack).")
                resolve(nack.delivery_tag, multiple: nack.multiple != 0) { _ in .failed(error) }
            case USER_DOMAIN_AMQP_BASIC_RETURN:
                // The returned content follows (header and body frames): read it, note whose it was. Its ack
                // comes after it.
                var message = amqp_message_t()
                let reply = amqp_read_message(state, Self.channel, &message, 0)
                if reply.reply_type == AMQP_RESPONSE_NORMAL {
                    if message.properties._flags & amqp_flags_t(AMQP_BASIC_MESSAGE_ID_FLAG) != 0 {
                        returned.insert(message.properties.message_id.string)
                    }
                    amqp_destroy_message(&message)
                } else {
                    let error = self.error(reply, "reading a returned message")
                    return outcomes.map { if case .notAttempted = $0 { .failed(error) } else { $0 } }
                }
            default:
                continue  // connection.blocked/unblocked and others: keep waiting until the timeout
            }
        }
        amqp_maybe_release_buffers(state)
        return outcomes
    }

    private func send(
        _ message: AMQPOutgoing, exchange: amqp_bytes_t, contentType: amqp_bytes_t, userIDKey: amqp_bytes_t,
        userVersionKey: amqp_bytes_t, positionKey: amqp_bytes_t
    ) -> Int32 {
        message.routingKey.utf8CString.withUnsafeBufferPointer { routingKey in
            message.messageID.utf8CString.withUnsafeBufferPointer { messageID in
                message.userID.utf8CString.withUnsafeBufferPointer { userID in
                    // user-id, user-version and, for an event of the outbox, event-position.
                    var entries = [amqp_table_entry_t](
                        repeating: amqp_table_entry_t(), count: message.position > 0 ? 3 : 2)
                    entries[0].key = userIDKey
                    entries[0].value.kind = UInt8(ascii: "S")
                    entries[0].value.value.bytes = amqp_bytes_t(
                        len: userID.count - 1, bytes: UnsafeMutableRawPointer(mutating: userID.baseAddress))
                    entries[1].key = userVersionKey
                    entries[1].value.kind = UInt8(ascii: "l")
                    entries[1].value.value.i64 = message.userVersion
                    if message.position > 0 {
                        entries[2].key = positionKey
                        entries[2].value.kind = UInt8(ascii: "l")
                        entries[2].value.value.i64 = message.position
                    }
                    return entries.withUnsafeMutableBufferPointer { table in
                        var properties = amqp_basic_properties_t()
                        properties._flags = amqp_flags_t(
                            AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG
                                | AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_HEADERS_FLAG | AMQP_BASIC_TYPE_FLAG
                                | AMQP_BASIC_TIMESTAMP_FLAG)
                        properties.content_type = contentType
                        properties.delivery_mode = 2  // persistent
                        properties.message_id = amqp_bytes_t(
                            len: messageID.count - 1, bytes: UnsafeMutableRawPointer(mutating: messageID.baseAddress))
                        properties.type = amqp_bytes_t(
                            len: routingKey.count - 1,
                            bytes: UnsafeMutableRawPointer(mutating: routingKey.baseAddress))
                        properties.timestamp = message.timestamp
                        properties.headers = amqp_table_t(
                            num_entries: Int32(table.count), entries: table.baseAddress)
                        let key = amqp_bytes_t(
                            len: routingKey.count - 1,
                            bytes: UnsafeMutableRawPointer(mutating: routingKey.baseAddress))
                        return message.body.withUnsafeBytes { body in
                            amqp_basic_publish(
                                state, Self.channel, exchange, key, 1, 0, &properties,
                                amqp_bytes_t(len: body.count, bytes: UnsafeMutableRawPointer(mutating: body.baseAddress)))
                        }
                    }
                }
            }
        }
    }
}
