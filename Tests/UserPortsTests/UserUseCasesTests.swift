import Foundation
import Testing
import UserDomain
import UserInMemory
import UserPorts
import UserPortsTesting

@Suite("UserUseCases use cases")
struct UserUseCasesTests {
    let store = InMemoryUserStore()
    let clock = ManualWallClock(start: Date(timeIntervalSince1970: 1_764_000_000.1234))
    var service: UserUseCases<InMemoryUserStore> { UserUseCases(repository: store, clock: clock) }

    @Test("register stores an active user at version 1 and commits its event")
    func register() async throws {
        let user = try await service.register(email: " Ada@Example.com ", displayName: "Ada Lovelace")
        #expect(user.email.value == "Ada@Example.com")
        #expect(user.version == 1)
        #expect(user.createdAt == Date(epochMilliseconds: 1_764_000_000_123))
        #expect(try await service.user(user.id) == user)
        let events = try await store.unpublishedEvents(limit: 10)
        #expect(events.map(\.envelope.type) == ["user.registered"])
        #expect(events.first?.envelope.userID == user.id)
    }

    @Test("invalid input is refused before anything is stored")
    func invalidInput() async throws {
        await #expect(throws: UserError.invalidEmail(.missingAtSign)) {
            try await service.register(email: "nope", displayName: "Ada")
        }
        await #expect(throws: UserError.invalidDisplayName(.empty)) {
            try await service.register(email: "a@b.io", displayName: "   ")
        }
        #expect(try await service.users().users.isEmpty)
        #expect(try await store.unpublishedEvents(limit: 10).isEmpty)
    }

    @Test("bulk registration refuses invalid and taken entries one by one and registers the rest")
    func registerInBulk() async throws {
        let stored = try await service.register(email: "stored@example.com", displayName: "Stored")
        let results = try await service.register([
            Registration(email: "one@example.com", displayName: "One"),
            Registration(email: "no-at-sign", displayName: "Bad"),
            Registration(email: "STORED@example.com", displayName: "Taken"),
            Registration(email: "two@example.com", displayName: " "),
            Registration(email: "One@Example.com", displayName: "Duplicate in the batch"),
            Registration(email: "three@example.com", displayName: "Three"),
        ])
        #expect(results.count == 6)
        #expect(try results[0].get().email.value == "one@example.com")
        #expect(throws: UserError.invalidEmail(.missingAtSign)) { try results[1].get() }
        #expect(throws: UserError.emailTaken(try EmailAddress("STORED@example.com"))) { try results[2].get() }
        #expect(throws: UserError.invalidDisplayName(.empty)) { try results[3].get() }
        #expect(throws: UserError.emailTaken(try EmailAddress("One@Example.com"))) { try results[4].get() }
        let three = try results[5].get()
        #expect(try await service.user(three.id) == three)
        #expect(try await service.users().users.count == 3)
        #expect(try await store.unpublishedEvents(limit: 10).count == 3, "one event per registered user")
        #expect(try await service.user(stored.id) == stored)

        let again = try await service.register([Registration(email: "three@example.com", displayName: "Three")])
        #expect(throws: UserError.emailTaken(try EmailAddress("three@example.com"))) { try again[0].get() }
        #expect(try await service.register([]).isEmpty)
    }

    @Test("a second registration of an address in other letter case is refused")
    func emailTaken() async throws {
        _ = try await service.register(email: "ada@example.com", displayName: "Ada")
        await #expect(throws: UserError.emailTaken(try EmailAddress("ADA@example.com"))) {
            try await service.register(email: "ADA@example.com", displayName: "Other Ada")
        }
    }

    @Test("rename honours the expected version")
    func renameWithVersion() async throws {
        let user = try await service.register(email: "ada@example.com", displayName: "Ada")
        clock.advance(by: 1)
        let renamed = try await service.rename(user.id, to: "Countess", expectedVersion: 1)
        #expect(renamed.version == 2)
        #expect(renamed.updatedAt > user.updatedAt)
        await #expect(throws: UserError.versionConflict(user.id, expected: 1, actual: 2)) {
            try await service.rename(user.id, to: "Stale", expectedVersion: 1)
        }
        #expect(try await service.user(user.id).displayName.value == "Countess")
    }

    @Test("a no-op command saves nothing and emits nothing")
    func noOp() async throws {
        let user = try await service.register(email: "ada@example.com", displayName: "Ada")
        let same = try await service.rename(user.id, to: "Ada")
        #expect(same == user)
        let active = try await service.reactivate(user.id)
        #expect(active.version == 1)
        #expect(try await store.unpublishedEvents(limit: 10).count == 1)
    }

    @Test("a no-op with a stale expected version is still a conflict")
    func staleNoOp() async throws {
        let user = try await service.register(email: "ada@example.com", displayName: "Ada")
        _ = try await service.rename(user.id, to: "Countess")
        await #expect(throws: UserError.versionConflict(user.id, expected: 1, actual: 2)) {
            try await service.rename(user.id, to: "Countess", expectedVersion: 1)
        }
    }

    @Test("changing e-mail: case-only is a change; another user's address is taken")
    func changeEmail() async throws {
        let ada = try await service.register(email: "ada@example.com", displayName: "Ada")
        _ = try await service.register(email: "grace@example.com", displayName: "Grace")
        let recased = try await service.changeEmail(ada.id, to: "Ada@Example.com")
        #expect(recased.version == 2)
        #expect(recased.email.value == "Ada@Example.com")
        await #expect(throws: UserError.emailTaken(try EmailAddress("GRACE@example.com"))) {
            try await service.changeEmail(ada.id, to: "GRACE@example.com")
        }
        #expect(try await service.user(email: "ADA@EXAMPLE.COM")?.id == ada.id)
    }

    @Test("a deactivated user can't be renamed until reactivated")
    func deactivation() async throws {
        let user = try await service.register(email: "ada@example.com", displayName: "Ada")
        let off = try await service.deactivate(user.id)
        #expect(off.status == .deactivated)
        #expect(try await service.deactivate(user.id).version == off.version)
        await #expect(throws: UserError.illegalTransition(user.id, operation: .rename, status: .deactivated)) {
            try await service.rename(user.id, to: "Other")
        }
        await #expect(throws: UserError.illegalTransition(user.id, operation: .changeEmail, status: .deactivated)) {
            try await service.changeEmail(user.id, to: "other@example.com")
        }
        _ = try await service.reactivate(user.id)
        #expect(try await service.rename(user.id, to: "Other").version == 4)
    }

    @Test("delete removes the user and frees the address; a second delete is not found")
    func delete() async throws {
        let user = try await service.register(email: "ada@example.com", displayName: "Ada")
        await #expect(throws: UserError.versionConflict(user.id, expected: 7, actual: 1)) {
            try await service.delete(user.id, expectedVersion: 7)
        }
        try await service.delete(user.id, expectedVersion: 1)
        await #expect(throws: UserError.notFound(user.id)) { try await service.user(user.id) }
        await #expect(throws: UserError.notFound(user.id)) { try await service.delete(user.id) }
        _ = try await service.register(email: "Ada@example.com", displayName: "New Ada")
        let types = try await store.unpublishedEvents(limit: 10).map(\.envelope.type)
        #expect(types == ["user.registered", "user.deleted", "user.registered"])
    }

    @Test("commands on unknown users are not found")
    func unknown() async throws {
        let ghost = UserID(UUID())
        await #expect(throws: UserError.notFound(ghost)) { try await service.rename(ghost, to: "X") }
        await #expect(throws: UserError.notFound(ghost)) { try await service.deactivate(ghost) }
        await #expect(throws: UserError.notFound(ghost)) { try await service.user(ghost) }
    }

    @Test("pages are validated and walk every user")
    func paging() async throws {
        for index in 0..<7 { _ = try await service.register(email: "u\(index)@example.com", displayName: "U\(index)") }
        await #expect(throws: UserError.invalidPageSize(0)) { try await service.users(limit: 0) }
        await #expect(throws: UserError.invalidPageSize(1001)) { try await service.users(limit: 1001) }
        var seen: [UserID] = []
        var cursor: PageCursor?
        repeat {
            let page = try await service.users(after: cursor, limit: 3)
            seen += page.users.map(\.id)
            cursor = page.nextCursor
        } while cursor != nil
        #expect(seen.count == 7)
        #expect(seen == seen.sorted())
    }

    @Test("ids from the default generator are time-ordered: users page in registration order")
    func timeOrderedIDs() async throws {
        var registered: [UserID] = []
        for index in 0..<20 {
            registered.append(try await service.register(email: "t\(index)@example.com", displayName: "T").id)
        }
        #expect(try await service.users(limit: 100).users.map(\.id) == registered)
    }
}

@Suite("UUIDv7Generator")
struct UUIDv7GeneratorTests {
    @Test("ids are strictly increasing, version 7, RFC 4122 variant")
    func ordering() {
        let generator = UUIDv7Generator()
        var previous = generator.makeUserID()
        for _ in 0..<20_000 {
            let next = generator.makeUserID()
            #expect(previous < next)
            let bytes = next.uuid.uuid
            #expect(bytes.6 >> 4 == 7)
            #expect(bytes.8 >> 6 == 0b10)
            previous = next
        }
    }

    @Test("the timestamp is the current Unix time in milliseconds")
    func timestamp() {
        let before = Date().epochMilliseconds
        let bytes = UUIDv7Generator().makeEventID().uuid
        let after = Date().epochMilliseconds
        let ms = [bytes.0, bytes.1, bytes.2, bytes.3, bytes.4, bytes.5].reduce(Int64(0)) { $0 << 8 | Int64($1) }
        #expect(ms >= before && ms <= after + 1)
    }

    @Test("ids from many threads never repeat")
    func concurrentUniqueness() async {
        let generator = UUIDv7Generator()
        let ids = await withTaskGroup(of: [UUID].self) { group in
            for _ in 0..<8 { group.addTask { (0..<2000).map { _ in generator.makeEventID() } } }
            return await group.reduce(into: []) { $0 += $1 }
        }
        #expect(Set(ids).count == 16_000)
    }
}
