import Foundation
public import UserDomain
import UserAdapterSupport
public import UserPorts

/// Writes each event as one JSON line (the envelope's stable JSON) to stdout or appends it to a file.
///
/// Writes run on a queue of the publisher's own, never on Swift's cooperative pool: a slow reader of
/// stdout blocks only that queue (and, through the relay, keeps the events in the outbox).
public actor JSONLinesPublisher: MessagePublisher {
    private let executor = QueueExecutor(label: "user-app.jsonlines")
    private let handle: FileHandle

    /// The executor: the publisher's own queue.
    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    /// Writes to stdout (`path == nil`) or appends to the file at `path`, creating it.
    ///
    /// - Throws: ``ConfigurationError`` for `users.publisher` when the file can't be opened (a missing folder,
    ///   no permission): the configured path is one this process can't write.
    public init(path: String?) throws {
        guard let path else {
            handle = .standardOutput
            return
        }
        if !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
        }
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw ConfigurationError(
                key: "users.publisher", "The event log \(path) (users.publisher) can't be opened for writing.")
        }
        handle.seekToEndOfFile()
        self.handle = handle
    }

    /// Writes the event's JSON and a newline.
    public func publish(_ event: UserEventEnvelope) throws {
        var line = event.jsonData()
        line.append(UInt8(ascii: "\n"))
        try handle.write(contentsOf: line)
    }
}
