import Foundation
import UserDomain

/// A user's events, built by hand.
struct TestUser {
    let id = UserID(UUID())
    let email: EmailAddress
    let name: DisplayName
    let start = Date(timeIntervalSince1970: 1_700_000_000)

    init(_ name: String, email: String? = nil) {
        let local = name.lowercased().filter { $0.isLetter || $0.isNumber }
        self.email = try! EmailAddress(email ?? "\(local)@example.com")
        self.name = try! DisplayName(name)
    }

    func envelope(_ event: UserEvent, version: Int) -> UserEventEnvelope {
        UserEventEnvelope(
            eventID: UUID(), userID: id, userVersion: version, occurredAt: start.addingTimeInterval(Double(version)),
            event: event)
    }

    var registered: UserEventEnvelope { envelope(.registered(email: email, displayName: name), version: 1) }
    func renamed(_ new: String, version: Int) -> UserEventEnvelope {
        envelope(.renamed(displayName: try! DisplayName(new), previous: name), version: version)
    }
    func deactivated(version: Int) -> UserEventEnvelope { envelope(.deactivated, version: version) }
    func deleted(version: Int) -> UserEventEnvelope { envelope(.deleted, version: version) }
}
