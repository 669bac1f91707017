#ifndef USER_DOMAIN_CSQLITE_SHIM_H
#define USER_DOMAIN_CSQLITE_SHIM_H

#include <sqlite3.h>

// SQLITE_TRANSIENT is a macro over a cast that Swift does not import.
static inline sqlite3_destructor_type user_domain_sqlite_transient(void) {
    return SQLITE_TRANSIENT;
}

#endif
