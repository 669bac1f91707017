// users-directory: the directory service, as a process of its own (`users directory serve` is the same command).
import ArgumentParser
import UserDirectoryService

@main
struct UsersDirectory: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "users-directory",
        abstract: "The directory as a second service: its own database, fed from the user events on RabbitMQ.",
        subcommands: [DirectoryServeCommand.self])
}
