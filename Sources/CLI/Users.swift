// users: the user service and its administration, a few lines over UserApp.
import ArgumentParser
import Configuration
import Foundation
import Logging
import UserApp
import ServiceSupport
import UserDirectoryService
import UserPorts

/// Options every command takes.
struct StoreFlags: ParsableArguments {
    @Option(name: .long, help: "The store URL: memory:, sqlite:PATH or postgres://… (env USERS_STORE).")
    var store: String?

    @Option(name: .long, help: "A JSON or YAML configuration file.")
    var config: String?

    /// The configuration: these options, then the environment, then the file, then the defaults. The
    /// `users` process is this package's own, so it tunes SQLite for itself unless told not to
    /// (`users.sqlite.tuneProcess=false`).
    func configuration(_ extra: [String: ConfigContent] = [:]) async throws -> UserAppConfiguration {
        var arguments = extra
        if let store { arguments["users.store"] = .string(store) }
        var configuration = try UserAppConfiguration(
            reader: try await UserAppConfiguration.reader(arguments: arguments, file: config))
        if configuration.sqliteTunesProcess == nil { configuration.sqliteTunesProcess = true }
        return configuration
    }
}

@main
struct Users: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "users",
        abstract: "A user service: register, find and change users, with domain events.",
        subcommands: [
            Serve.self, Migrate.self, Register.self, Get.self, Find.self, List.self, Rename.self, ChangeEmail.self,
            Deactivate.self, Reactivate.self, Delete.self, Import.self, Export.self, Events.self, Projections.self,
            Directory.self,
        ])
}

/// `users directory serve`: the directory service (also its own executable, `users-directory`).
struct Directory: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The directory as a second service: its own database, fed from the user events on RabbitMQ.",
        subcommands: [DirectoryServeCommand.self])
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the HTTP user service.")

    @OptionGroup var options: StoreFlags

    @Option(help: "The address to bind (env USERS_HOST; default 127.0.0.1).")
    var host: String?

    @Option(help: "The port to bind (env USERS_PORT; default 8080).")
    var port: Int?

    @Option(
        help: ArgumentHelp(
            "Where committed events go: memory, log, log:PATH, none or amqp://user:pass@host:5672/vhost (env USERS_PUBLISHER; default none).",
            discussion: "A broker URL with a password is better given as USERS_PUBLISHER: ps shows flags."))
    var publisher: String?

    func run() async throws {
        var extra: [String: ConfigContent] = [:]
        if let publisher { extra["users.publisher"] = .string(publisher) }
        if let host { extra["users.host"] = .string(host) }
        if let port { extra["users.port"] = .int(port) }
        // The same exit codes as the other commands: 78 for configuration (the refused public bind among
        // it), 69 for a store that can't be reached or an address that can't be bound.
        try await Exit.reportingSetupErrors {
            let configuration = try await options.configuration(extra)
            try await UserServer.run(configuration: configuration, logger: makeLogger())
        }
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create or upgrade the store's schema, then exit.")

    @OptionGroup var options: StoreFlags

    func run() async throws {
        let configuration = try await Exit.reportingSetupErrors { try await options.configuration() }
        // Opening a store applies its migrations.
        try await withUsers(options) { _ in }
        print("migrated \(configuration.store)")
    }
}
