//! Capability flags the proxy negotiates on each side.
//! <https://dev.mysql.com/doc/dev/mysql-server/latest/group__group__cs__capabilities__flags.html>

/// CLIENT_LONG_PASSWORD (also tells MariaDB clients "this is MySQL-compatible").
pub const LONG_PASSWORD: u32 = 0x0000_0001;
/// CLIENT_FOUND_ROWS: affected rows count matched rows.
pub const FOUND_ROWS: u32 = 0x0000_0002;
/// CLIENT_LONG_FLAG.
pub const LONG_FLAG: u32 = 0x0000_0004;
/// CLIENT_CONNECT_WITH_DB.
pub const CONNECT_WITH_DB: u32 = 0x0000_0008;
/// CLIENT_PROTOCOL_41.
pub const PROTOCOL_41: u32 = 0x0000_0200;
/// CLIENT_INTERACTIVE.
pub const INTERACTIVE: u32 = 0x0000_0400;
/// CLIENT_SSL.
pub const SSL: u32 = 0x0000_0800;
/// CLIENT_TRANSACTIONS.
pub const TRANSACTIONS: u32 = 0x0000_2000;
/// CLIENT_SECURE_CONNECTION (4.1 authentication).
pub const SECURE_CONNECTION: u32 = 0x0000_8000;
/// CLIENT_MULTI_STATEMENTS.
pub const MULTI_STATEMENTS: u32 = 0x0001_0000;
/// CLIENT_MULTI_RESULTS.
pub const MULTI_RESULTS: u32 = 0x0002_0000;
/// CLIENT_PS_MULTI_RESULTS.
pub const PS_MULTI_RESULTS: u32 = 0x0004_0000;
/// CLIENT_PLUGIN_AUTH.
pub const PLUGIN_AUTH: u32 = 0x0008_0000;
/// CLIENT_CONNECT_ATTRS.
pub const CONNECT_ATTRS: u32 = 0x0010_0000;
/// CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA.
pub const PLUGIN_AUTH_LENENC: u32 = 0x0020_0000;

/// MariaDB extended capability MARIADB_CLIENT_EXTENDED_METADATA (bit 3 of the extended
/// capabilities carried in the last 4 filler bytes of the greeting and of the handshake
/// response when CLIENT_MYSQL, bit 0, is not set): column definitions carry the data type
/// name (e.g. `json`), which drivers such as node mysql2 use to decode values.
pub const MARIADB_EXT_METADATA: u32 = 1 << 3;

/// What the proxy offers clients. Deliberately absent: SSL, COMPRESS, LOCAL_FILES,
/// SESSION_TRACK, DEPRECATE_EOF, QUERY_ATTRIBUTES and MariaDB's extended capabilities,
/// so that relayed backend packets always have the layout the client expects.
pub const SERVER: u32 = LONG_PASSWORD
    | FOUND_ROWS
    | LONG_FLAG
    | CONNECT_WITH_DB
    | PROTOCOL_41
    | INTERACTIVE
    | TRANSACTIONS
    | SECURE_CONNECTION
    | MULTI_STATEMENTS
    | MULTI_RESULTS
    | PS_MULTI_RESULTS
    | PLUGIN_AUTH
    | CONNECT_ATTRS
    | PLUGIN_AUTH_LENENC;

/// What the proxy asks of backends (FOUND_ROWS is added per pool).
pub const BACKEND: u32 = LONG_PASSWORD
    | LONG_FLAG
    | PROTOCOL_41
    | TRANSACTIONS
    | SECURE_CONNECTION
    | MULTI_STATEMENTS
    | MULTI_RESULTS
    | PS_MULTI_RESULTS
    | PLUGIN_AUTH
    | PLUGIN_AUTH_LENENC;
