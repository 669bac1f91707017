// swift-tools-version: 6.2

import PackageDescription

// The benchmark tools, a package of their own so that they stay out of the library's products and its
// dependency graph. Build and run with `-c release` (see README.md).
let package = Package(
    name: "swift-user-domain-benchmarks",
    dependencies: [
        .package(name: "swift-user-domain", path: ".."),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .executableTarget(
            name: "users-bench",
            dependencies: [
                .product(name: "UserAppCore", package: "swift-user-domain"),
                .product(name: "UserDomain", package: "swift-user-domain"),
                .product(name: "UserPorts", package: "swift-user-domain"),
                .product(name: "UserInMemory", package: "swift-user-domain"),
                .product(name: "UserSQLite", package: "swift-user-domain"),
                .product(name: "UserPostgres", package: "swift-user-domain"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // The outbox relay draining a backlog to RabbitMQ, and the commit-to-effect lag at a steady write rate
        // (Benchmarks/relay.sh, next to c/amqp_baseline.c).
        .executableTarget(
            name: "relay-bench",
            dependencies: [
                .product(name: "UserDomain", package: "swift-user-domain"),
                .product(name: "UserPorts", package: "swift-user-domain"),
                .product(name: "UserInMemory", package: "swift-user-domain"),
                .product(name: "UserSQLite", package: "swift-user-domain"),
                .product(name: "UserRabbitMQ", package: "swift-user-domain"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // The directory projection catching up on a store's history (Benchmarks/projection.sh).
        .executableTarget(
            name: "projection-bench",
            dependencies: [
                .product(name: "UserAppCore", package: "swift-user-domain"),
                .product(name: "UserDomain", package: "swift-user-domain"),
                .product(name: "UserPorts", package: "swift-user-domain"),
                .product(name: "UserSQLite", package: "swift-user-domain"),
                .product(name: "UserPostgres", package: "swift-user-domain"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // The directory replicas (SQLite, PostgreSQL, Redis) applying the same events and answering searches and
        // counts (Benchmarks/replica.sh).
        .executableTarget(
            name: "replica-bench",
            dependencies: [
                .product(name: "UserDomain", package: "swift-user-domain"),
                .product(name: "UserPorts", package: "swift-user-domain"),
                .product(name: "UserSQLite", package: "swift-user-domain"),
                .product(name: "UserPostgres", package: "swift-user-domain"),
                .product(name: "UserRedis", package: "swift-user-domain"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // A bare Hummingbird route with a constant body: the ceiling for `users serve` in Benchmarks/http.sh.
        .executableTarget(
            name: "bare-server",
            dependencies: [.product(name: "Hummingbird", package: "hummingbird")],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)
