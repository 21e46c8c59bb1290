#!/usr/bin/env perl
# Prints the rows of one statement, for bench/merge.sh's answer checks: one line per row,
# columns separated by tabs, NULL as \N, in the order received.
#
#   bench/merge_rows.pl ADDRESS USER PASSWORD DATABASE MODE SQL [PARAMETER…]
#
# ADDRESS is a Unix socket path (starting with /) or HOST:PORT. MODE auto executes SQL as a
# server-side prepared statement (COM_STMT_PREPARE/EXECUTE, rows in the binary protocol, as
# sysbench --db-ps-mode=auto does); disable sends it as text with the parameters inlined by
# the client (COM_QUERY, as --db-ps-mode=disable). Exits 1 with the server's message if the
# statement fails.
#
# Needs DBD::MariaDB (Debian: apt-get install libdbd-mariadb-perl).

use strict;
use warnings;
use DBI;

@ARGV >= 6 or die "usage: $0 ADDRESS USER PASSWORD DATABASE auto|disable SQL [PARAMETER…]\n";
my ($address, $user, $password, $database, $mode, $sql, @params) = @ARGV;
$mode eq 'auto' || $mode eq 'disable' or die "$0: MODE must be auto or disable, not '$mode'\n";

my $dsn = "DBI:MariaDB:database=$database";
if ($address =~ m{^/}) {
    $dsn .= ";mariadb_socket=$address";
} elsif ($address =~ /^(.+):(\d+)$/) {
    $dsn .= ";host=$1;port=$2";
} else {
    die "$0: ADDRESS must be a socket path or HOST:PORT, not '$address'\n";
}

my $dbh = DBI->connect($dsn, $user, $password,
    { RaiseError => 0, PrintError => 0, AutoCommit => 1,
      mariadb_server_prepare => ($mode eq 'auto' ? 1 : 0) })
    or do { print STDERR "connect: $DBI::errstr\n"; exit 1 };
my $sth = $dbh->prepare($sql) or do { print STDERR "prepare: ", $dbh->errstr, "\n"; exit 1 };
$sth->execute(@params) or do { print STDERR "execute: ", $sth->errstr, "\n"; exit 1 };
while (my $row = $sth->fetchrow_arrayref) {
    print join("\t", map { defined $_ ? $_ : '\N' } @$row), "\n";
}
if ($sth->err) {
    print STDERR "fetch: ", $sth->errstr, "\n";
    exit 1;
}
$dbh->disconnect;
