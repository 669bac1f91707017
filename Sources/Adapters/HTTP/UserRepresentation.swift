import Foundation
package import UserDomain
import HTTPTypes
import UserPorts

/// A user as the API shows it: camelCase keys, RFC 3339 UTC timestamps with milliseconds.
package struct UserRepresentation: Codable, Sendable {
    package var id: String
    var email: String
    var displayName: String
    var status: String
    var version: Int
    var createdAt: String
    var updatedAt: String

    package init(_ user: User) {
        id = user.id.description
        email = user.email.value
        displayName = user.displayName.value
        status = user.status.rawValue
        version = user.version
        createdAt = RFC3339.string(from: user.createdAt)
        updatedAt = RFC3339.string(from: user.updatedAt)
    }
}

/// A page of users: `{"items":[…],"nextCursor":"…"|null}`.
extension UserRepresentation {
    /// Appends the JSON object (sorted keys), as `JSONEncoder.sorted` would write it.
    package func appendJSON(to json: inout String) {
        json += #"{"createdAt":""#
        json += createdAt
        json += #"","displayName":"#
        JSONText.appendQuoted(displayName, to: &json)
        json += #","email":"#
        JSONText.appendQuoted(email, to: &json)
        json += #","id":""#
        json += id
        json += #"","status":""#
        json += status
        json += #"","updatedAt":""#
        json += updatedAt
        json += #"","version":"#
        json += String(version)
        json += "}"
    }

    /// The JSON object as a string.
    package var json: String {
        var json = ""
        json.reserveCapacity(256)
        appendJSON(to: &json)
        return json
    }
}

package struct PageRepresentation: Encodable, Sendable {
    package var items: [UserRepresentation]
    package var nextCursor: String?

    package init(items: [UserRepresentation], nextCursor: String?) {
        self.items = items
        self.nextCursor = nextCursor
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(items, forKey: .items)
        try container.encode(nextCursor, forKey: .nextCursor)  // null, not absent, on the last page
    }

    private enum CodingKeys: String, CodingKey {
        case items, nextCursor
    }

    /// The JSON object as a string, as `JSONEncoder.sorted` would write it.
    package var json: String {
        var json = #"{"items":["#
        json.reserveCapacity(64 + items.count * 256)
        for (index, item) in items.enumerated() {
            if index > 0 { json += "," }
            item.appendJSON(to: &json)
        }
        json += #"],"nextCursor":"#
        if let nextCursor { JSONText.appendQuoted(nextCursor, to: &json) } else { json += "null" }
        json += "}"
        return json
    }
}

/// The body of `POST /users`.
struct RegistrationRequest: Decodable {
    var email: String
    var displayName: String
}

/// The body of `PATCH /users/{id}`: each field optional.
struct UpdateRequest: Decodable {
    var email: String?
    var displayName: String?
}

/// A directory entry in JSON: the user representation's keys.
struct DirectoryEntryRepresentation: Encodable {
    var id: String
    var email: String
    var displayName: String
    var status: String
    var version: Int
    var createdAt: String
    var updatedAt: String

    init(_ entry: DirectoryEntry) {
        id = entry.id.description
        email = entry.email
        displayName = entry.displayName
        status = entry.status.rawValue
        version = entry.version
        createdAt = RFC3339.string(from: entry.createdAt)
        updatedAt = RFC3339.string(from: entry.updatedAt)
    }
}

/// A directory search result: `{"items":[…]}`.
struct DirectoryPage: Encodable {
    var items: [DirectoryEntryRepresentation]
}

/// `{"active":…,"deactivated":…,"total":…}`.
struct DirectoryStatisticsRepresentation: Encodable {
    var active: Int
    var deactivated: Int
    var total: Int
}

extension HTTPField.Name {
    /// `Consistency-Token`: the position of a write's last event, to read one's writes from the directory.
    static let consistencyToken = HTTPField.Name("Consistency-Token")!
}
