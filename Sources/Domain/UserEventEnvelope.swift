public import Foundation

/// A ``UserEvent`` with what a consumer needs to order, deduplicate and date it.
///
/// ## JSON
/// The envelope encodes to one JSON object with these keys, a stable contract for other services
/// (new keys may be added; none is removed or changes meaning while ``schemaVersion`` stays 1):
///
/// | key | value |
/// |---|---|
/// | `eventId` | UUID string, unique per event: consumers deduplicate by it |
/// | `type` | ``UserEvent/typeName`` |
/// | `schemaVersion` | `1` |
/// | `userId` | the user's id |
/// | `userVersion` | the user's version after the event: 1, 2, 3… per user, without gaps |
/// | `occurredAt` | RFC 3339 UTC with milliseconds, e.g. `2026-11-27T01:02:03.456Z` |
/// | `data` | the event's own fields, below |
///
/// `data` per type: `user.registered`: `email`, `displayName`; `user.renamed`: `displayName`,
/// `previousDisplayName`; `user.emailChanged`: `email`, `previousEmail`; `user.deactivated`,
/// `user.reactivated`, `user.deleted`: `{}`. E-mail addresses keep their spelling.
///
/// ```json
/// {"data":{"displayName":"Ada Lovelace","email":"Ada@Example.com"},"eventId":"0190f5a4-…","occurredAt":"2026-11-27T01:02:03.456Z","schemaVersion":1,"type":"user.registered","userId":"0190f5a4-…","userVersion":1}
/// ```
public struct UserEventEnvelope: Sendable, Hashable, Identifiable, Codable {
    /// Unique per event; consumers deduplicate by it.
    public let eventID: UUID
    /// The user the event is about.
    public let userID: UserID
    /// The user's version after the event.
    public let userVersion: Int
    /// When it happened, at millisecond precision.
    public let occurredAt: Date
    /// What happened.
    public let event: UserEvent

    /// The version of the JSON schema this package writes.
    public static let schemaVersion = 1

    /// Creates an envelope; `occurredAt` is rounded to milliseconds.
    public init(eventID: UUID, userID: UserID, userVersion: Int, occurredAt: Date, event: UserEvent) {
        self.eventID = eventID
        self.userID = userID
        self.userVersion = userVersion
        self.occurredAt = occurredAt.roundedToMilliseconds
        self.event = event
    }

    /// The event id.
    public var id: UUID { eventID }

    /// The event's type name (``UserEvent/typeName``).
    public var type: String { event.typeName }

    private enum CodingKeys: String, CodingKey {
        case eventID = "eventId"
        case type
        case schemaVersion
        case userID = "userId"
        case userVersion
        case occurredAt
        case data
    }

    /// Decodes the JSON form; unknown types and newer schema versions are refused.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let schemaVersion = try container.decode(Int.self, forKey: .schemaVersion)
        guard schemaVersion <= Self.schemaVersion, schemaVersion >= 1 else {
            throw DecodingError.dataCorruptedError(
                forKey: .schemaVersion, in: container,
                debugDescription: "Event schema version \(schemaVersion) is newer than \(Self.schemaVersion).")
        }
        let occurredAtText = try container.decode(String.self, forKey: .occurredAt)
        guard let occurredAt = RFC3339.date(from: occurredAtText) else {
            throw DecodingError.dataCorruptedError(
                forKey: .occurredAt, in: container, debugDescription: "Not an RFC 3339 timestamp.")
        }
        let type = try container.decode(String.self, forKey: .type)
        let event: UserEvent
        switch type {
        case "user.registered":
            let data = try container.decode(RegisteredData.self, forKey: .data)
            event = .registered(email: data.email, displayName: data.displayName)
        case "user.renamed":
            let data = try container.decode(RenamedData.self, forKey: .data)
            event = .renamed(displayName: data.displayName, previous: data.previousDisplayName)
        case "user.emailChanged":
            let data = try container.decode(EmailChangedData.self, forKey: .data)
            event = .emailChanged(email: data.email, previous: data.previousEmail)
        case "user.deactivated": event = .deactivated
        case "user.reactivated": event = .reactivated
        case "user.deleted": event = .deleted
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .type, in: container, debugDescription: "Unknown event type.")
        }
        self.init(
            eventID: try container.decode(UUID.self, forKey: .eventID),
            userID: try container.decode(UserID.self, forKey: .userID),
            userVersion: try container.decode(Int.self, forKey: .userVersion),
            occurredAt: occurredAt,
            event: event)
    }

    /// Encodes the JSON form described above.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(eventID.uuidString.lowercased(), forKey: .eventID)
        try container.encode(type, forKey: .type)
        try container.encode(Self.schemaVersion, forKey: .schemaVersion)
        try container.encode(userID, forKey: .userID)
        try container.encode(userVersion, forKey: .userVersion)
        try container.encode(RFC3339.string(from: occurredAt), forKey: .occurredAt)
        switch event {
        case .registered(let email, let displayName):
            try container.encode(RegisteredData(email: email, displayName: displayName), forKey: .data)
        case .renamed(let displayName, let previous):
            try container.encode(RenamedData(displayName: displayName, previousDisplayName: previous), forKey: .data)
        case .emailChanged(let email, let previous):
            try container.encode(EmailChangedData(email: email, previousEmail: previous), forKey: .data)
        case .deactivated, .reactivated, .deleted:
            try container.encode(EmptyData(), forKey: .data)
        }
    }

    /// The envelope as JSON bytes with sorted keys: the same event always gives the same bytes.
    ///
    /// Written by hand, in the exact form `JSONEncoder` with sorted keys and unescaped slashes gives (a test
    /// holds the two equal): this runs for every event a store appends, and the generic encoder costs more
    /// than the rest of the append.
    public func jsonData() -> Data {
        Data(json().bytes)
    }

    /// The JSON form as a string (see ``jsonData()``).
    public func jsonString() -> String {
        json().string
    }

    /// The JSON form as UTF-8 bytes (see ``jsonData()``), for a store to bind without another copy.
    package func jsonUTF8() -> [UInt8] {
        json().bytes
    }

    private func json() -> JSONText {
        var json = JSONText(capacity: 320)
        json.raw(#"{"data":"#)
        switch event {
        case .registered(let email, let displayName):
            json.object(("displayName", displayName.value), ("email", email.value))
        case .renamed(let displayName, let previous):
            json.object(("displayName", displayName.value), ("previousDisplayName", previous.value))
        case .emailChanged(let email, let previous):
            json.object(("email", email.value), ("previousEmail", previous.value))
        case .deactivated, .reactivated, .deleted:
            json.raw("{}")
        }
        json.raw(#","eventId":"#)
        json.uuid(eventID)
        json.raw(#","occurredAt":"#)
        json.timestamp(occurredAt)
        json.raw(#","schemaVersion":"#)
        json.integer(Self.schemaVersion)
        json.raw(#","type":"#)
        json.quotedVerbatim(type)
        json.raw(#","userId":"#)
        json.uuid(userID.uuid)
        json.raw(#","userVersion":"#)
        json.integer(userVersion)
        json.raw("}")
        return json
    }
}

private struct RegisteredData: Codable {
    let email: EmailAddress
    let displayName: DisplayName
}

private struct RenamedData: Codable {
    let displayName: DisplayName
    let previousDisplayName: DisplayName
}

private struct EmailChangedData: Codable {
    let email: EmailAddress
    let previousEmail: EmailAddress
}

private struct EmptyData: Codable {}
