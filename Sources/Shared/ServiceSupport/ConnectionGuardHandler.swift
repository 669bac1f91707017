import HTTPTypes
import Logging
import NIOCore
import NIOHTTPTypes
import Synchronization

/// Watches the raw bytes before the HTTP decoder, which keeps them until a head is complete, to tell the
/// ``ConnectionGuardHandler`` when a request begins to arrive.
///
/// Hummingbird and NIO have nothing that sees this moment: the decoder reports only complete parts.
final class RequestByteObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let guardHandler: ConnectionGuardHandler

    init(_ guardHandler: ConnectionGuardHandler) {
        self.guardHandler = guardHandler
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let waiting = guardHandler.isWaitingForFirstByte
        context.fireChannelRead(data)
        // The decoder has run: when the bytes held only part of a head, its time limit starts now. (When they
        // held a whole head, the guard already saw it and is no longer waiting.)
        if waiting { guardHandler.requestBytesArrived() }
    }
}

/// The time limits and the registry entry of one connection, after the HTTP codec.
///
/// Hummingbird's `HTTPConnectionStateHandler` has one idle timeout, measured from the last decoded part: it
/// cannot start a head's limit at the head's first byte, and nothing outside it can see whether the
/// connection is idle. This handler keeps one timer per connection, lazily: a request moves the deadline,
/// not the timer, which is rescheduled only when it fires early, so a busy keep-alive connection schedules
/// about one timer per idle timeout rather than one per request.
final class ConnectionGuardHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    struct Timeouts: Sendable {
        var idle: TimeAmount
        var head: TimeAmount
        var body: TimeAmount
    }

    private enum Phase {
        /// No request being handled: waiting for one until `deadline`; `headStarted` once its first bytes came.
        case waiting(deadline: NIODeadline, headStarted: Bool)
        /// Requests (heads received) not yet answered; `bodyDeadline` while the last one's body is still
        /// arriving, `responded` once a response part was written for the oldest.
        case busy(requests: Int, bodyDeadline: NIODeadline?, responded: Bool)
        /// Not yet active, or closed.
        case inactive
    }

    private let timeouts: Timeouts
    private let registry: ConnectionRegistry
    private let logger: Logger
    private var phase = Phase.inactive
    private var activity: ConnectionActivity?
    private var timer: Scheduled<Void>?
    private var timerDeadline = NIODeadline.distantFuture

    init(timeouts: Timeouts, registry: ConnectionRegistry, logger: Logger) {
        self.timeouts = timeouts
        self.registry = registry
        self.logger = logger
    }

    /// Whether the connection waits for a request whose first byte has not come.
    var isWaitingForFirstByte: Bool {
        if case .waiting(_, headStarted: false) = phase { return true }
        return false
    }

    /// Bytes came while waiting for a request, and did not complete its head: the head's limit starts.
    func requestBytesArrived() {
        guard case .waiting(_, headStarted: false) = phase, let context = self.context else { return }
        let deadline = NIODeadline.now() + timeouts.head
        phase = .waiting(deadline: deadline, headStarted: true)
        arm(context, at: deadline)
    }

    private var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { begin(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        begin(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        end()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        end()
        self.context = nil
    }

    private func begin(_ context: ChannelHandlerContext) {
        guard case .inactive = phase, activity == nil else { return }
        let now = NIODeadline.now()
        let activity = ConnectionActivity(channel: context.channel, waitingSince: now)
        self.activity = activity
        phase = .waiting(deadline: now + timeouts.idle, headStarted: false)
        arm(context, at: now + timeouts.idle)
        if !registry.admit(activity) {
            context.close(promise: nil)
        }
    }

    private func end() {
        phase = .inactive
        timer?.cancel()
        timer = nil
        if let activity {
            registry.remove(activity)
            self.activity = nil
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            let now = NIODeadline.now()
            let bodyDeadline = now + timeouts.body
            switch phase {
            case .waiting:
                phase = .busy(requests: 1, bodyDeadline: bodyDeadline, responded: false)
                // Evictable only after every waiting connection while its body arrives. (A head that came
                // after the registry chose this connection still sees the close the registry started.)
                activity?.waitingSince.store(
                    ConnectionActivity.receivingBody + max(1, now.uptimeNanoseconds), ordering: .relaxed)
                arm(context, at: bodyDeadline)
            case .busy(let requests, _, let responded):
                phase = .busy(requests: requests + 1, bodyDeadline: bodyDeadline, responded: responded)
                arm(context, at: bodyDeadline)
            case .inactive:
                break
            }
        case .end:
            if case .busy(let requests, .some, let responded) = phase {
                phase = .busy(requests: requests, bodyDeadline: nil, responded: responded)
                // The whole request is in: it is being answered, and is never evicted now.
                activity?.waitingSince.store(0, ordering: .relaxed)
            }
        case .body:
            break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .busy(let requests, let bodyDeadline, _) = phase {
            if case .end = unwrapOutboundIn(data) {
                phase = .busy(requests: requests, bodyDeadline: bodyDeadline, responded: false)
            } else {
                phase = .busy(requests: requests, bodyDeadline: bodyDeadline, responded: true)
            }
        }
        if case .end = unwrapOutboundIn(data), case .busy(let requests, let bodyDeadline, _) = phase {
            if requests > 1 {
                phase = .busy(requests: requests - 1, bodyDeadline: bodyDeadline, responded: false)
            } else {
                let now = NIODeadline.now()
                phase = .waiting(deadline: now + timeouts.idle, headStarted: false)
                activity?.waitingSince.store(max(1, now.uptimeNanoseconds), ordering: .relaxed)
                arm(context, at: now + timeouts.idle)
            }
        }
        context.write(data, promise: promise)
    }

    /// Makes sure the timer fires by `deadline`: an armed timer that fires earlier is kept (it re-arms itself
    /// for the deadline then); one that fires later is moved.
    private func arm(_ context: ChannelHandlerContext, at deadline: NIODeadline) {
        if timer != nil {
            guard deadline < timerDeadline else { return }
            timer?.cancel()
        }
        timerDeadline = deadline
        let loop = context.eventLoop.assumeIsolated()
        timer = loop.scheduleTask(deadline: deadline) { [self] in
            self.timer = nil
            self.timerFired(context)
        }
    }

    private func timerFired(_ context: ChannelHandlerContext) {
        if case .busy(_, let bodyDeadline?, let responded) = phase {
            guard NIODeadline.now() >= bodyDeadline else {
                arm(context, at: bodyDeadline)
                return
            }
            phase = .inactive
            logger.debug("request body not received in time: closing the connection")
            if !responded {
                let head = HTTPResponse(
                    status: .requestTimeout, headerFields: [.connection: "close", .contentLength: "0"])
                context.write(wrapOutboundOut(.head(head)), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            }
            context.close(promise: nil)
            return
        }
        guard case .waiting(let deadline, let headStarted) = phase else { return }
        guard NIODeadline.now() >= deadline else {
            arm(context, at: deadline)
            return
        }
        phase = .inactive
        if headStarted {
            logger.debug("request head not received in time: 408, closing the connection")
            let head = HTTPResponse(status: .requestTimeout, headerFields: [.connection: "close", .contentLength: "0"])
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        } else {
            logger.trace("connection idle: closing it")
        }
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension ConnectionGuardHandler: Sendable {}

@available(*, unavailable)
extension RequestByteObserver: Sendable {}
