import Dispatch
import Foundation
package import Logging
import UserDomain
import UserPorts

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The log handler of `users`: one line per event on standard error.
///
/// `2026-11-27T08:11:27.123Z info users: GET /users/… 200 duration.ms=0.41 request.id=…`: the UTC time
/// (RFC 3339, milliseconds), the level, the label, the message, then the metadata sorted by key.
///
/// swift-log's `StreamLogHandler` made the access line cost a third of a `GET /users/{id}` (measured with
/// wrk: 8,200–8,800 requests/s with the line, 12,200–13,800 without): it re-renders all of its metadata
/// whenever one key is set (Hummingbird sets one per request), formats the time through `strftime`, works
/// out the module of every call site, and locks and flushes a `FILE`. This one keeps metadata as a plain
/// dictionary, renders a line straight into bytes, and hands lines to ``LineLogWriter``, which writes them
/// in batches; a line at `warning` or above is written before `log` returns, with every line before it.
package struct LineLogHandler: LogHandler {
    package var logLevel: Logger.Level = .info
    package var metadata: Logger.Metadata = [:]
    package var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let writer: LineLogWriter

    /// A handler for `label` (swift-log's `LoggingSystem` factory shape), writing through `writer`.
    package init(
        label: String, metadataProvider: Logger.MetadataProvider? = nil, writer: LineLogWriter = .standardError
    ) {
        self.label = label
        self.metadataProvider = metadataProvider
        self.writer = writer
    }

    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    package func log(event: LogEvent) {
        // The line's metadata: the handler's, the provider's, then the event's, later ones winning; sorted by
        // key. A few entries: an array beats merging dictionaries.
        var entries: [(key: String, value: Logger.Metadata.Value)] = []
        entries.reserveCapacity(metadata.count + (event.metadata?.count ?? 0))
        func add(_ more: Logger.Metadata) {
            for (key, value) in more {
                if let index = entries.firstIndex(where: { $0.key == key }) {
                    entries[index].value = value
                } else {
                    entries.append((key, value))
                }
            }
        }
        add(metadata)
        if let provided = metadataProvider?.get() { add(provided) }
        if let explicit = event.metadata { add(explicit) }
        entries.sort { $0.key < $1.key }

        var line: [UInt8] = []
        line.reserveCapacity(192)
        RFC3339.append(.now, to: &line)
        line.append(UInt8(ascii: " "))
        line.append(contentsOf: event.level.rawValue.utf8)
        line.append(UInt8(ascii: " "))
        line.append(contentsOf: label.utf8)
        line.append(contentsOf: ": ".utf8)
        line.append(contentsOf: event.message.description.utf8)
        for (key, value) in entries {
            line.append(UInt8(ascii: " "))
            line.append(contentsOf: key.utf8)
            line.append(UInt8(ascii: "="))
            if case .string(let text) = value {
                line.append(contentsOf: text.utf8)
            } else {
                line.append(contentsOf: value.description.utf8)
            }
        }
        line.append(UInt8(ascii: "\n"))
        writer.write(line, immediately: event.level >= .warning)
    }
}

/// Writes log lines to a file descriptor in batches, off the caller's thread.
///
/// Lines are appended to a buffer; a writer thread (never Swift's cooperative pool: `write(2)` to a slow
/// pipe or disk can wait) takes everything buffered and writes it with one `write(2)`, so under load many
/// requests share one system call. A line written `immediately` is written, with all lines before it, before
/// `write` returns (warnings and errors are never left in a buffer). ``flush()`` writes what is buffered;
/// `users` calls it before it exits.
package final class LineLogWriter: Sendable {
    /// Standard error; what is buffered is written when the process exits normally (`atexit`).
    package static let standardError: LineLogWriter = {
        let writer = LineLogWriter(descriptor: 2)
        atexit { LineLogWriter.standardError.flush() }
        return writer
    }()

    /// Past this much buffered (a descriptor that doesn't keep up), callers write themselves: back pressure
    /// rather than unbounded memory.
    private static let maximumBuffered = 1 << 20

    private struct State {
        var buffer: [UInt8] = []
        var writerIdle = true
    }

    private let state = Locked(State())
    /// The descriptor, used only while this lock is held: batches leave in the order they were taken.
    ///
    /// It guards a real value rather than `()`. Under ThreadSanitizer, `users serve` built with
    /// `--sanitize=thread` reported a "Swift access race" at every exit while this was a `Locked<()>`: the
    /// writer thread's inout access to the zero-sized state, recorded as a write at the start of the
    /// `Locked` object, against the exit handler's `flush` reading that object's header before taking the
    /// lock. A zero-sized write touches no memory, so it was a false positive; with a real state the
    /// access is to the state's own bytes, under the lock, and the report is gone.
    private let output: Locked<Int32>
    private let wakeUp = DispatchSemaphore(value: 0)

    /// A writer for `descriptor`; its thread starts now and lives as long as the process.
    package init(descriptor: Int32) {
        output = Locked(descriptor)
        let thread = Thread { [self] in
            while true {
                wakeUp.wait()
                // Let the lines of the next few milliseconds join the batch: one wake-up and one write(2) per
                // batch instead of per line under load, at the price of a line showing up to 2 ms late.
                usleep(2_000)
                drain()
            }
        }
        thread.name = "users.log-writer"
        thread.start()
    }

    /// Queues a line; with `immediately`, writes it (and everything queued before it) before returning.
    package func write(_ line: [UInt8], immediately: Bool) {
        let (wake, full) = state.withLock { state in
            state.buffer.append(contentsOf: line)
            let full = state.buffer.count > Self.maximumBuffered
            guard state.writerIdle, !immediately, !full else { return (false, full) }
            state.writerIdle = false
            return (true, full)
        }
        if immediately || full {
            flush()
        } else if wake {
            wakeUp.signal()
        }
    }

    /// Writes everything queued so far.
    package func flush() {
        output.withLock { descriptor in
            let bytes = state.withLock { state in
                defer { state.buffer.removeAll(keepingCapacity: true) }
                return state.buffer
            }
            Self.write(bytes, to: descriptor)
        }
    }

    /// The writer thread's turn: write batches until the buffer stays empty, then go idle.
    private func drain() {
        while true {
            let done = output.withLock { descriptor -> Bool in
                let bytes = state.withLock { state -> [UInt8] in
                    if state.buffer.isEmpty { state.writerIdle = true }
                    defer { state.buffer.removeAll(keepingCapacity: true) }
                    return state.buffer
                }
                Self.write(bytes, to: descriptor)
                return bytes.isEmpty
            }
            if done { return }
        }
    }

    /// Writes all of `bytes`, retrying on interruption and short writes; gives up quietly when the descriptor
    /// is gone or full (a log line is not worth failing for).
    private static func write(_ bytes: [UInt8], to descriptor: Int32) {
        guard !bytes.isEmpty else { return }
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = systemWrite(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written > 0 {
                    offset += written
                } else if written < 0, errno == EINTR {
                    continue
                } else {
                    return
                }
            }
        }
    }
}

#if canImport(Glibc)
    private let systemWrite = Glibc.write
#elseif canImport(Darwin)
    private let systemWrite = Darwin.write
#endif
