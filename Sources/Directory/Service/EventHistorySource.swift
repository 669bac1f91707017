public import UserDomain
public import UserPorts
import ServiceSupport

/// One page of a user service's event history, as `GET /events?after=&limit=` answers it.
public struct EventHistoryPage: Sendable {
    /// One event with its position in the source's log.
    public struct Item: Sendable {
        /// The position in the source's event log.
        public var position: EventPosition
        /// The event.
        public var envelope: UserEventEnvelope

        /// Creates an item.
        public init(position: EventPosition, envelope: UserEventEnvelope) {
            self.position = position
            self.envelope = envelope
        }
    }

    /// The events, in position order.
    public var items: [Item]
    /// The `after` of the next page; `nil` when this page was the last one (it was not full).
    public var next: EventPosition?

    /// Creates a page.
    public init(items: [Item], next: EventPosition?) {
        self.items = items
        self.next = next
    }
}

/// Where a ``DirectoryFollower`` reads the history it backfills from: the user service's event log.
public protocol EventHistorySource: Sendable {
    /// Events after `position` (`nil`: from the start), in position order, at most `limit`.
    ///
    /// - Throws: ``EventHistoryError`` when the source can't be read.
    func events(after position: EventPosition?, limit: Int) async throws -> EventHistoryPage
}

/// Reading the event history failed.
public struct EventHistoryError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, without the token.
    public let description: String
    /// Whether the source refused the credentials (401/403): a configuration problem, not a transient one.
    public let isAuthentication: Bool
    /// The HTTP status the source answered, when it answered one that is not 200.
    public let status: Int?

    /// Whether retrying can't help until a configuration changes: the credentials refused (401, 403), or no
    /// event history at that address (404: a wrong base URL).
    public var isPermanent: Bool { isAuthentication || status == 404 }

    /// Whether the source's history no longer reaches back to the position asked for (410: retention deleted
    /// events above it): a reader starting there can't be made whole from it.
    public var isTrimmed: Bool { status == 410 }

    /// Creates an error.
    public init(_ description: String, isAuthentication: Bool = false, status: Int? = nil) {
        self.description = description
        self.isAuthentication = isAuthentication
        self.status = status
    }
}
