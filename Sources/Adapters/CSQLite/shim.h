#ifndef USER_DOMAIN_CSQLITE_SHIM_H
#define USER_DOMAIN_CSQLITE_SHIM_H

#include <sqlite3.h>

// SQLITE_TRANSIENT is a macro over a cast that Swift does not import.
static inline sqlite3_destructor_type user_domain_sqlite_transient(void) {
    return SQLITE_TRANSIENT;
}

// sqlite3_config is variadic, which Swift does not import. Turns off SQLite's memory statistics (a global
// mutex taken on every allocation); only allowed before SQLite initializes, otherwise it returns
// SQLITE_MISUSE and changes nothing.
static inline int user_domain_sqlite_disable_memory_statistics(void) {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

#endif
