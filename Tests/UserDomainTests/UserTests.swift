import Foundation
import Testing
import UserDomain

@Suite("User behaviour")
struct UserTests {
    let t0 = Date(timeIntervalSince1970: 1_700_000_000.5)
    let t1 = Date(timeIntervalSince1970: 1_700_000_100.25)

    func registered() throws -> User {
        User.register(
            id: UserID("0190f5a4-7c3e-7d1a-9b2c-1f0e2d3c4b5a")!, email: try EmailAddress("Ada@Example.com"),
            displayName: try DisplayName("Ada"), at: t0
        ).user
    }

    @Test("register creates an active user at version 1 with one event")
    func register() throws {
        let eventID = UUID()
        let change = User.register(
            id: UserID("0190f5a4-7c3e-7d1a-9b2c-1f0e2d3c4b5a")!, email: try EmailAddress("Ada@Example.com"),
            displayName: try DisplayName("Ada"), at: t0, eventID: eventID)
        #expect(change.user.version == 1)
        #expect(change.user.status == .active)
        #expect(change.user.createdAt == t0)
        #expect(change.user.updatedAt == t0)
        #expect(change.events.count == 1)
        let event = try #require(change.events.first)
        #expect(event.eventID == eventID)
        #expect(event.userVersion == 1)
        #expect(event.occurredAt == t0)
        #expect(event.event == .registered(email: change.user.email, displayName: change.user.displayName))
        #expect(event.type == "user.registered")
    }

    @Test("rename bumps the version and records old and new names")
    func rename() throws {
        let user = try registered()
        let change = try user.renamed(to: DisplayName("Countess"), at: t1)
        #expect(change.user.displayName.value == "Countess")
        #expect(change.user.version == 2)
        #expect(change.user.updatedAt == t1)
        #expect(change.user.createdAt == t0)
        #expect(
            change.events.map(\.event) == [
                .renamed(displayName: try DisplayName("Countess"), previous: user.displayName)
            ])
        #expect(change.events.first?.userVersion == 2)
    }

    @Test("renaming to the same name is a no-op")
    func renameNoOp() throws {
        let user = try registered()
        let change = try user.renamed(to: DisplayName(" Ada "), at: t1)
        #expect(change.isNoOp)
        #expect(change.user == user)
    }

    @Test("changing e-mail bumps the version")
    func changeEmail() throws {
        let user = try registered()
        let change = try user.changingEmail(to: EmailAddress("ada@lovelace.org"), at: t1)
        #expect(change.user.email.value == "ada@lovelace.org")
        #expect(change.user.version == 2)
        #expect(
            change.events.map(\.event) == [
                .emailChanged(email: try EmailAddress("ada@lovelace.org"), previous: user.email)
            ])
    }

    @Test("changing only the letter case of the e-mail is a real change")
    func changeEmailCase() throws {
        let user = try registered()
        let change = try user.changingEmail(to: EmailAddress("ADA@example.com"), at: t1)
        #expect(!change.isNoOp)
        #expect(change.user.version == 2)
        #expect(change.user.email.canonical == user.email.canonical)
    }

    @Test("changing to the same spelling is a no-op")
    func changeEmailNoOp() throws {
        let user = try registered()
        #expect(try user.changingEmail(to: EmailAddress("Ada@Example.com"), at: t1).isNoOp)
    }

    @Test("a deactivated user can't be renamed or change e-mail")
    func deactivatedRules() throws {
        let user = try registered().deactivated(at: t1).user
        #expect(user.status == .deactivated)
        #expect(throws: UserError.illegalTransition(user.id, operation: .rename, status: .deactivated)) {
            try user.renamed(to: DisplayName("Other"), at: t1)
        }
        #expect(throws: UserError.illegalTransition(user.id, operation: .changeEmail, status: .deactivated)) {
            try user.changingEmail(to: EmailAddress("other@example.com"), at: t1)
        }
        // Even a change to the same value is refused: the rule is about the status, not the value.
        #expect(throws: UserError.self) { try user.renamed(to: DisplayName("Ada"), at: t1) }
    }

    @Test("deactivate and reactivate bump the version; repeating them is a no-op")
    func statusChanges() throws {
        let user = try registered()
        let off = user.deactivated(at: t1)
        #expect(off.user.version == 2)
        #expect(off.events.map(\.event) == [.deactivated])
        #expect(off.user.deactivated(at: t1).isNoOp)
        #expect(user.reactivated(at: t1).isNoOp)
        let on = off.user.reactivated(at: t1)
        #expect(on.user.version == 3)
        #expect(on.user.status == .active)
        #expect(on.events.map(\.event) == [.reactivated])
    }

    @Test("delete yields the deleted event one version past, in any status")
    func delete() throws {
        let user = try registered()
        let deleted = user.deleted(at: t1)
        #expect(deleted.events.map(\.event) == [.deleted])
        #expect(deleted.events.first?.userVersion == 2)
        let off = user.deactivated(at: t1).user
        #expect(off.deleted(at: t1).events.first?.userVersion == 3)
    }

    @Test("timestamps are rounded to milliseconds")
    func milliseconds() throws {
        let at = Date(timeIntervalSince1970: 1_700_000_000.123_456)
        let user = User.register(
            id: UserID(UUID()), email: try EmailAddress("a@b.io"), displayName: try DisplayName("A"), at: at
        ).user
        #expect(user.createdAt.epochMilliseconds == 1_700_000_000_123)
        #expect(user.createdAt == Date(epochMilliseconds: 1_700_000_000_123))
        #expect(user.createdAt.roundedToMilliseconds == user.createdAt)
    }

    @Test("error descriptions are safe and specific")
    func errorDescriptions() throws {
        let id = UserID("0190f5a4-7c3e-7d1a-9b2c-1f0e2d3c4b5a")!
        #expect(UserError.versionConflict(id, expected: 1, actual: 3).description.contains("version 3"))
        #expect(UserError.versionConflict(id, expected: 1, actual: nil).description.contains("expected version 1"))
        #expect(!UserError.emailTaken(try EmailAddress("secret@example.com")).description.contains("secret"))
        #expect(
            UserError.illegalTransition(id, operation: .rename, status: .deactivated).description
                == "User \(id) is deactivated and can't be renamed.")
        #expect(UserError.notFound(id).code == "not-found")
        #expect(UserError.invalidPageSize(0).description.contains("1...1000"))
    }
}
