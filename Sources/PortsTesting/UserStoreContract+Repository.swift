import Foundation
import Logging
import UserDomain
import UserPorts

// Lookups, uniqueness, versions and deletion.
extension UserStoreContract {
    static let lookupChecks: [Check] = [
        check("a saved user is found by id with every field intact", .repository) { f in
            let user = try await f.register(email: "Grace.Hopper@Navy.mil", name: "Grace Hopper")
            let found = try f.expect.unwrap(try await f.repository.user(id: user.id), "user(id:)")
            try f.expect.equal(found, user, "the user read back")
            try f.expect.equal(found.version, 1, "version")
            try f.expect.equal(found.status, .active, "status")
        },
        check("an unknown id finds nothing", .repository) { f in
            try await f.register()
            try f.expect.isNil(try await f.repository.user(id: Fixture.ids.makeUserID()), "user(id:) of an unknown id")
        },
        check("lookup by e-mail ignores letter case and keeps the spelling", .repository) { f in
            let user = try await f.register(email: "Ada.Lovelace@Example.COM")
            for spelling in ["ada.lovelace@example.com", "ADA.LOVELACE@EXAMPLE.COM", "Ada.Lovelace@Example.COM"] {
                let found = try f.expect.unwrap(
                    try await f.repository.user(email: EmailAddress(spelling)), "user(email: \(spelling))")
                try f.expect.equal(found.id, user.id, "the user found by \(spelling)")
                try f.expect.equal(found.email.value, "Ada.Lovelace@Example.COM", "the stored spelling")
            }
        },
        check("an unknown e-mail finds nothing", .repository) { f in
            try await f.register(email: "known@example.com")
            let found = try await f.repository.user(email: EmailAddress("unknown@example.com"))
            try f.expect.isNil(found, "user(email:) of an unknown address")
        },
    ]

    static let uniquenessChecks: [Check] = [
        check("an e-mail that differs only in letter case is taken", .repository) { f in
            try await f.register(email: "A@x.io")
            let second = try f.registration(email: "a@X.IO")
            try await f.expect.throwsError(.emailTaken(second.user.email), "registering a@X.IO after A@x.io") {
                try await f.repository.save(second.user, expectedVersion: 0, events: second.events)
            }
        },
        check("a taken e-mail writes neither the row nor its event", .repository) { f in
            try await f.register(email: "taken@example.com")
            let before = try await f.eventsIfOutbox()?.count
            let second = try f.registration(email: "TAKEN@example.com")
            _ = try? await f.repository.save(second.user, expectedVersion: 0, events: second.events)
            try f.expect.isNil(try await f.repository.user(id: second.user.id), "the refused user is not stored")
            try f.expect.equal(try await f.eventsIfOutbox()?.count, before, "events after the refused save")
        },
        check("changing to another user's e-mail is refused and changes nothing", .repository) { f in
            try await f.register(email: "first@example.com")
            let second = try await f.register(email: "second@example.com")
            let before = try await f.eventsIfOutbox()?.count
            let change = try second.changingEmail(to: EmailAddress("FIRST@example.com"), at: f.now())
            try await f.expect.throwsError(.emailTaken(change.user.email), "taking another user's address") {
                try await f.repository.save(change.user, expectedVersion: second.version, events: change.events)
            }
            try f.expect.equal(try await f.repository.user(id: second.id), second, "the user after the refused change")
            try f.expect.equal(try await f.eventsIfOutbox()?.count, before, "events after the refused change")
        },
        check("changing only the letter case of one's own e-mail succeeds", .repository) { f in
            let user = try await f.register(email: "case@example.com")
            let changed = try await f.apply(user) { user, now, id in
                try user.changingEmail(to: EmailAddress("Case@Example.com"), at: now, eventID: id)
            }
            let found = try f.expect.unwrap(try await f.repository.user(email: EmailAddress("CASE@EXAMPLE.COM")), "lookup")
            try f.expect.equal(found, changed, "the user after a case-only change")
            try f.expect.equal(found.email.value, "Case@Example.com", "the new spelling")
            try f.expect.equal(found.version, 2, "version after a case-only change")
        },
        check("an e-mail freed by a change can be registered again", .repository) { f in
            let user = try await f.register(email: "old@example.com")
            let changed = try await f.apply(user) { user, now, id in
                try user.changingEmail(to: EmailAddress("new@example.com"), at: now, eventID: id)
            }
            try f.expect.that(
                try await f.repository.user(email: EmailAddress("old@example.com")) == nil, "old address lookup")
            let other = try await f.register(email: "OLD@example.com")
            try f.expect.equal(
                try await f.repository.user(email: EmailAddress("old@example.com"))?.id, other.id, "new owner")
            try f.expect.equal(try await f.repository.user(email: EmailAddress("new@example.com"))?.id, changed.id, "mover")
        },
        check("an e-mail freed by a deletion can be registered again", .repository) { f in
            let user = try await f.register(email: "gone@example.com")
            let deletion = user.deleted(at: f.now())
            try await f.repository.delete(id: user.id, expectedVersion: user.version, events: deletion.events)
            let other = try await f.register(email: "Gone@Example.com")
            try f.expect.equal(try await f.repository.user(email: EmailAddress("gone@example.com"))?.id, other.id, "owner")
        },
        check("one mailbox is one account: IDNA domains, fullwidth letters and case folding are one address", .repository) { f in
            // Each pair names one mailbox; the first registers, the second is taken, and both find the first.
            let pairs = [
                ("idn@bücher.de", "idn@xn--bcher-kva.de"), ("ace@XN--BCHER-KVA.de", "Ace@Bücher.DE"),
                ("fd@ｅｘａｍｐｌｅ.com", "fd@example.com"), ("ｆｗ@example.com", "FW@example.com"),
                ("σίσυφος@example.gr", "ΣΊΣΥΦΟΣ@example.gr"), ("ςς@example.gr", "σσ@example.gr"),
                ("straße@example.de", "STRASSE@example.de"),
            ]
            for (first, second) in pairs {
                let user = try await f.register(email: first)
                let twin = try f.registration(email: second)
                try await f.expect.throwsError(.emailTaken(twin.user.email), "registering \(second) after \(first)") {
                    try await f.repository.save(twin.user, expectedVersion: 0, events: twin.events)
                }
                for spelling in [first, second] {
                    let found = try f.expect.unwrap(
                        try await f.repository.user(email: EmailAddress(spelling)), "user(email: \(spelling))")
                    try f.expect.equal(found.id, user.id, "the user found by \(spelling)")
                    try f.expect.equal(found.email.value, first, "the stored spelling of \(first)")
                    try f.expect.equal(found.email.canonical, user.email.canonical, "the canonical form read back")
                }
            }
            // Nontransitional IDNA: faß.de and fass.de are two domains, so two accounts.
            let sharp = try await f.register(email: "a@faß.de")
            let plain = try await f.register(email: "a@fass.de")
            try f.expect.that(sharp.id != plain.id, "a@faß.de and a@fass.de are two accounts")
        },
        check("changing to another spelling of another user's mailbox is refused", .repository) { f in
            try await f.register(email: "owner@bücher.de")
            let second = try await f.register(email: "second@example.com")
            let change = try second.changingEmail(to: EmailAddress("OWNER@xn--bcher-kva.de"), at: f.now())
            try await f.expect.throwsError(.emailTaken(change.user.email), "taking owner@bücher.de as A-labels") {
                try await f.repository.save(change.user, expectedVersion: second.version, events: change.events)
            }
            try f.expect.equal(try await f.repository.user(id: second.id), second, "the user after the refused change")
        },
    ]

    static let versionChecks: [Check] = [
        check("inserting an id that exists is a version conflict", .repository) { f in
            let user = try await f.register()
            let again = try f.registration(id: user.id)
            try await f.expect.throwsError(.versionConflict(user.id, expected: 0, actual: 1), "inserting twice") {
                try await f.repository.save(again.user, expectedVersion: 0, events: again.events)
            }
        },
        check("an update at the current version is saved", .repository) { f in
            let user = try await f.register(name: "Before")
            let renamed = try await f.rename(user, "After")
            let found = try f.expect.unwrap(try await f.repository.user(id: user.id), "user(id:)")
            try f.expect.equal(found, renamed, "the user after an update")
            try f.expect.equal(found.version, 2, "version")
            try f.expect.equal(found.createdAt, user.createdAt, "createdAt")
            try f.expect.that(found.updatedAt > user.updatedAt, "updatedAt moves forward")
        },
        check("an update at a stale version is a conflict and changes nothing", .repository) { f in
            let user = try await f.register(name: "Original")
            let first = try await f.rename(user, "First")
            let stale = try user.renamed(to: DisplayName("Stale"), at: f.now())
            try await f.expect.throwsError(.versionConflict(user.id, expected: 1, actual: 2), "a stale update") {
                try await f.repository.save(stale.user, expectedVersion: 1, events: stale.events)
            }
            try f.expect.equal(try await f.repository.user(id: user.id), first, "the user after the stale update")
        },
        check("a failed update leaves no event", .outbox) { f in
            let user = try await f.register()
            _ = try await f.rename(user, "Second")
            let before = try await f.allEvents()
            let stale = try user.renamed(to: DisplayName("Stale"), at: f.now())
            _ = try? await f.store.save(stale.user, expectedVersion: 1, events: stale.events)
            try f.expect.equal(try await f.allEvents(), before, "events after a failed update")
        },
        check("an update of a missing user is not found", .repository) { f in
            let ghost = try f.registration().user.renamed(to: DisplayName("Ghost"), at: f.now())
            try await f.expect.throwsError(.notFound(ghost.user.id), "updating a missing user") {
                try await f.repository.save(ghost.user, expectedVersion: 1, events: ghost.events)
            }
            try f.expect.isNil(try await f.repository.user(id: ghost.user.id), "the missing user stays missing")
            try f.expect.equal(try await f.eventsIfOutbox()?.count ?? 0, 0, "events after a failed update")
        },
        check("status changes are stored", .repository) { f in
            let user = try await f.register()
            let off = try await f.apply(user) { user, now, id in user.deactivated(at: now, eventID: id) }
            try f.expect.equal(try await f.repository.user(id: user.id)?.status, .deactivated, "status after deactivate")
            let on = try await f.apply(off) { user, now, id in user.reactivated(at: now, eventID: id) }
            try f.expect.equal(try await f.repository.user(id: user.id), on, "the user after reactivate")
        },
    ]

    static let deletionChecks: [Check] = [
        check("a deleted user is gone from lookups and pages", .repository) { f in
            let keep = try await f.register(email: "keep@example.com")
            let user = try await f.register(email: "delete.me@example.com")
            let deletion = user.deleted(at: f.now())
            try await f.repository.delete(id: user.id, expectedVersion: 1, events: deletion.events)
            try f.expect.isNil(try await f.repository.user(id: user.id), "lookup by id after delete")
            try f.expect.that(
                try await f.repository.user(email: EmailAddress("delete.me@example.com")) == nil, "lookup by e-mail")
            let page = try await f.repository.page(after: nil, limit: 10)
            try f.expect.equal(page.users.map(\.id), [keep.id], "page after delete")
        },
        check("a delete at a stale version is a conflict and keeps the user", .repository) { f in
            let user = try await f.register()
            let renamed = try await f.rename(user, "Renamed")
            let before = try await f.eventsIfOutbox()
            let deletion = user.deleted(at: f.now())
            try await f.expect.throwsError(.versionConflict(user.id, expected: 1, actual: 2), "a stale delete") {
                try await f.repository.delete(id: user.id, expectedVersion: 1, events: deletion.events)
            }
            try f.expect.equal(try await f.repository.user(id: user.id), renamed, "the user after a stale delete")
            try f.expect.equal(try await f.eventsIfOutbox(), before, "events after a stale delete")
        },
        check("a delete of a missing user is not found", .repository) { f in
            let ghost = try f.registration().user
            try await f.expect.throwsError(.notFound(ghost.id), "deleting a missing user") {
                try await f.repository.delete(
                    id: ghost.id, expectedVersion: 1, events: ghost.deleted(at: f.now()).events)
            }
            try f.expect.equal(try await f.eventsIfOutbox()?.count ?? 0, 0, "events after a failed delete")
        },
        check("a delete commits its event", .outbox) { f in
            let user = try await f.register()
            let deletion = user.deleted(at: f.now())
            let position = try await f.store.delete(id: user.id, expectedVersion: 1, events: deletion.events)
            let last = try f.expect.unwrap(try await f.allEvents().last, "the last event")
            try f.expect.equal(last.envelope, deletion.events[0], "the deletion event")
            try f.expect.equal(position, last.position, "the position delete returned")
            try f.expect.equal(last.envelope.userVersion, 2, "the deleted event's user version")
        },
    ]
}
