module myshard/tests/clients/go

go 1.19

require github.com/go-sql-driver/mysql v1.5.0

// Built offline from Debian's golang-github-go-sql-driver-mysql-dev source package.
replace github.com/go-sql-driver/mysql => /usr/share/gocode/src/github.com/go-sql-driver/mysql
