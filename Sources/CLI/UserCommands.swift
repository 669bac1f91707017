import ArgumentParser
import Configuration
import Foundation
import Logging
import UserApp
import UserDomain
import UserHTTP
import ServiceSupport
import UserPorts

/// Output options of the user commands.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print JSON (the HTTP API's representation) instead of text.")
    var json = false
}

/// Opens the configured system (no services run: events stay in the outbox for `serve` to relay), runs
/// `body`, closes the system, and turns configuration and store errors into a message on stderr and a
/// distinct exit code (see ``Exit/reportingSetupErrors(_:)``).
func withSystem<T>(_ options: StoreFlags, _ body: (UserSystem<AnyUserStore>) async throws -> T) async throws -> T {
    try await Exit.reportingSetupErrors {
        let configuration = try await options.configuration()
        let system = try await UserSystem.open(
            store: configuration.store, events: .none, options: configuration.systemOptions,
            storeOptions: configuration.storeOptions, logger: makeLogger(defaultLevel: .warning))
        do {
            let result = try await body(system)
            await system.close()
            return result
        } catch {
            await system.close()
            throw error
        }
    }
}

extension Exit {
    /// The exit code of a domain error, by its stable `code`: 3 not found, 4 a conflict with the user's
    /// state, 65 refused input. A case added to `UserError` later gets 1 (a failure, unclassified) until it is
    /// named here: the mapping never stops the CLI from building.
    static func code(for error: UserError) -> ExitCode {
        switch error.code {
        case "not-found": notFound
        case "email-taken", "version-conflict", "illegal-transition": conflict
        case "invalid-email", "invalid-display-name", "invalid-page-size", "invalid-cursor": invalidInput
        default: .failure
        }
    }
}

/// Runs `body` with the use cases of the configured store (see ``withSystem(_:_:)``), and turns domain
/// errors into a message on stderr and a distinct exit code (``Exit/code(for:)``).
func withUsers<T>(_ options: StoreFlags, _ body: (UserUseCases<AnyUserStore>) async throws -> T) async throws -> T {
    do {
        return try await withSystem(options) { try await body($0.users) }
    } catch let error as UserError {
        FileHandle.standardError.write(Data("users: \(error.description)\n".utf8))
        throw Exit.code(for: error)
    }
}

func print(_ user: User, _ output: OutputOptions) throws {
    if output.json {
        Swift.print(String(decoding: try JSONEncoder.sorted.encode(UserRepresentation(user)), as: UTF8.self))
    } else {
        Swift.print("\(user.id)  \(user.email)  \(user.displayName)  \(user.status)  v\(user.version)")
    }
}

func parseID(_ text: String) throws -> UserID {
    guard let id = UserID(text) else { throw ValidationError("\(text) is not a user id (a UUID).") }
    return id
}

struct Register: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Register a user.")
    @OptionGroup var options: StoreFlags
    @OptionGroup var output: OutputOptions
    @Option(help: "The e-mail address.") var email: String
    @Option(help: "The display name.") var name: String

    func run() async throws {
        let user = try await withUsers(options) { try await $0.register(email: email, displayName: name) }
        try print(user, output)
    }
}

struct Get: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a user by id.")
    @OptionGroup var options: StoreFlags
    @OptionGroup var output: OutputOptions
    @Argument(help: "The user id.") var id: String

    func run() async throws {
        let id = try parseID(id)
        try print(try await withUsers(options) { try await $0.user(id) }, output)
    }
}

struct Find: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Find a user by e-mail address (any letter case).")
    @OptionGroup var options: StoreFlags
    @OptionGroup var output: OutputOptions
    @Option(help: "The e-mail address.") var email: String

    func run() async throws {
        let email = email
        guard let user = try await withUsers(options, { try await $0.user(email: email) }) else {
            FileHandle.standardError.write(Data("users: no user has the e-mail address \(email).\n".utf8))
            throw Exit.notFound
        }
        try print(user, output)
    }
}

struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List users in id order, one page.")
    @OptionGroup var options: StoreFlags
    @OptionGroup var output: OutputOptions
    @Option(help: "Users per page (1…1000).") var limit = 50
    @Option(help: "The cursor a previous page printed.") var cursor: String?

    func run() async throws {
        // Parsed inside withUsers, so that a malformed cursor exits 65 as other refused input does.
        let page = try await withUsers(options) { users in
            try await users.users(after: try cursor.map { try PageCursor(encoded: $0) }, limit: limit)
        }
        if output.json {
            let representation = PageRepresentation(
                items: page.users.map(UserRepresentation.init), nextCursor: page.nextCursor?.encoded)
            Swift.print(String(decoding: try JSONEncoder.sorted.encode(representation), as: UTF8.self))
        } else {
            for user in page.users { try print(user, output) }
            if let next = page.nextCursor { Swift.print("next: --cursor \(next.encoded)") }
        }
    }
}

/// The options of the commands that change one user.
struct ChangeOptions: ParsableArguments {
    @Argument(help: "The user id.") var id: String
    @Option(help: "The version you last saw; the change fails if the user moved on.") var expectVersion: Int?
}

/// Applies one change to the user `change.id` names, at the version it expects, and prints the result.
func applyChange(
    _ options: StoreFlags, _ output: OutputOptions, _ change: ChangeOptions,
    _ operation: (UserUseCases<AnyUserStore>, UserID, Int?) async throws -> User
) async throws {
    let id = try parseID(change.id)
    let user = try await withUsers(options) { try await operation($0, id, change.expectVersion) }
    try print(user, output)
}

struct Rename: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Change a user's display name.")
    @OptionGroup var options: StoreFlags
    @OptionGroup var output: OutputOptions
    @OptionGroup var change: ChangeOptions
    @Option(help: "The new display name.") var name: String

    func run() async throws {
        try await applyChange(options, output, change) { try await $0.rename($1, to: name, expectedVersion: $2) }
    }
}

struct ChangeEmail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "change-email", abstract: "Change a user's e-mail.")
    @OptionGroup var options: StoreFlags
    @OptionGroup var output: OutputOptions
    @OptionGroup var change: ChangeOptions
    @Option(help: "The new e-mail address.") var email: String

    func run() async throws {
        try await applyChange(options, output, change) { try await $0.changeEmail($1, to: email, expectedVersion: $2) }
    }
}

struct Deactivate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Deactivate a user (a no-op if already).")
    @OptionGroup var options: StoreFlags
    @OptionGroup var output: OutputOptions
    @OptionGroup var change: ChangeOptions

    func run() async throws {
        try await applyChange(options, output, change) { try await $0.deactivate($1, expectedVersion: $2) }
    }
}

struct Reactivate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Reactivate a user (a no-op if already active).")
    @OptionGroup var options: StoreFlags
    @OptionGroup var output: OutputOptions
    @OptionGroup var change: ChangeOptions

    func run() async throws {
        try await applyChange(options, output, change) { try await $0.reactivate($1, expectedVersion: $2) }
    }
}

struct Delete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Delete a user and free its e-mail address.")
    @OptionGroup var options: StoreFlags
    @OptionGroup var change: ChangeOptions

    func run() async throws {
        let id = try parseID(change.id)
        try await withUsers(options) { try await $0.delete(id, expectedVersion: change.expectVersion) }
    }
}

struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write every user as JSON lines (the HTTP API's representation) to stdout.")
    @OptionGroup var options: StoreFlags

    func run() async throws {
        try await withUsers(options) { users in
            var cursor: PageCursor?
            repeat {
                let page = try await users.users(after: cursor, limit: UserPage.maximumLimit)
                for user in page.users {
                    Swift.print(
                        String(decoding: try JSONEncoder.sorted.encode(UserRepresentation(user)), as: UTF8.self))
                }
                cursor = page.nextCursor
            } while cursor != nil
        }
    }
}
