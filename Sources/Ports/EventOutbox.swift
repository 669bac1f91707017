/// A store's transactional outbox and event log, whole: delivery (``OutboxDelivery``), the dead letters
/// (``DeadLetters``), the history and its retention (``EventHistory``) and the relay lease (``RelayLease``).
///
/// The parts are separate ports so that each service asks for what it uses: the ``OutboxRelay`` needs
/// delivery and the lease, the ``DirectoryProjection`` the history, `users events` the dead letters. An
/// adapter implements them all; the contract suite in `UserPortsTesting` checks each part on its own.
public typealias EventOutbox = OutboxDelivery & DeadLetters & EventHistory & RelayLease

/// A store that implements every store port: the users, their outbox and event log. Every adapter in this
/// package is one, and the contract suite in `UserPortsTesting` checks them port by port.
///
/// The directory read model is not part of it: it is a ``DirectoryReplica`` kept from the event log by a
/// ``DirectoryProjection``. The package's stores keep one in their own database (``DirectoryHosting``).
public typealias UserStore = UserRepository & EventOutbox
