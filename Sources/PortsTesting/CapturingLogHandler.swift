package import Logging
package import UserPorts

/// A swift-log handler that keeps every line (level, message and metadata, the metadata sorted) for a test to
/// read: to check what a component logs, and that no line holds a password or a token (the package's own
/// tests; `Locked` is package-internal).
package struct CapturingLogHandler: LogHandler {
    /// The lines logged so far, in order.
    package let lines: Locked<[String]>
    /// The handler's metadata (merged into every line).
    package var metadata: Logger.Metadata = [:]
    /// The lowest level kept; `trace` by default: every line.
    package var logLevel: Logger.Level = .trace

    /// Creates a handler that appends to `lines`.
    package init(lines: Locked<[String]>) {
        self.lines = lines
    }

    /// One metadata value of the handler.
    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Appends the line.
    package func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        let line = "\(event.level) \(event.message) " + all.map { "\($0)=\($1)" }.sorted().joined(separator: " ")
        lines.withLock { $0.append(line) }
    }
}
