# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_kensa_global_optspecs
    string join \n state-dir= config= v/verbose h/help V/version
end

function __fish_kensa_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_kensa_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_kensa_using_subcommand
    set -l cmd (__fish_kensa_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c kensa -n "__fish_kensa_needs_command" -l state-dir -d 'Where kensa keeps keys, the journal, caches and databases' -r -F
complete -c kensa -n "__fish_kensa_needs_command" -l config -d 'Configuration file (TOML). Missing is fine unless named explicitly' -r -F
complete -c kensa -n "__fish_kensa_needs_command" -s v -l verbose -d 'More log output from kensa (-v info, -vv debug; dependencies stay at warn; KENSA_LOG replaces the filter). Logs go to stderr, or to journald natively when run by systemd'
complete -c kensa -n "__fish_kensa_needs_command" -s h -l help -d 'Print help'
complete -c kensa -n "__fish_kensa_needs_command" -s V -l version -d 'Print version'
complete -c kensa -n "__fish_kensa_needs_command" -f -a "scan" -d 'Scan files and directories: SHA-256, YARA rules and hash lists'
complete -c kensa -n "__fish_kensa_needs_command" -f -a "run" -d 'Run the agent: scan media as they are mounted and watched directories as files arrive; journal everything (SIGHUP reloads, SIGTERM stops)'
complete -c kensa -n "__fish_kensa_needs_command" -f -a "status" -d 'Show the agent\'s state: whether one is running (its pid), rules, key, journal head, unexported records, the last medium\'s verdict and recent sessions (times in report.timezone). Creates nothing'
complete -c kensa -n "__fish_kensa_needs_command" -f -a "release" -d 'Let the running agent\'s device gate release a held (blocked) device: an override by a named person, journalled with the note. The device is then mounted or handed to the automounter as a clean one would be'
complete -c kensa -n "__fish_kensa_needs_command" -f -a "inspect" -d 'List what is on a disk or disk image (partitions, volumes, every file with its SHA-256) without mounting it and without rules'
complete -c kensa -n "__fish_kensa_needs_command" -f -a "config" -d 'Configuration helpers'
complete -c kensa -n "__fish_kensa_needs_command" -f -a "incidents" -d 'List incidents (scan sessions with detections) in the collector store, or show the findings and triage history behind one'
complete -c kensa -n "__fish_kensa_needs_command" -f -a "triage" -d 'Classify an incident under the NISC taxonomy (event and causes), or mark it a false positive. Every triage is kept; the latest counts'
complete -c kensa -n "__fish_kensa_needs_command" -f -a "report" -d 'The NISC quarterly report: incident count, incidents by event type and by cause, for the four previous fiscal years and the year\'s quarters'
complete -c kensa -n "__fish_kensa_needs_command" -f -a "taxonomy" -d 'List the NISC taxonomy: every event and cause code that `triage` accepts, with its Japanese and English labels'
complete -c kensa -n "__fish_kensa_needs_command" -f -a "generate" -d 'Write the man pages or shell completions, generated from this command line (the .deb ships them; packaging/ holds copies)'
complete -c kensa -n "__fish_kensa_needs_command" -f -a "rules" -d 'Rule sets: check rule files, build, trust and install signed packs'
complete -c kensa -n "__fish_kensa_needs_command" -f -a "keygen" -d 'Create the agent\'s Ed25519 key pair (minisign format) under <state>/keys'
complete -c kensa -n "__fish_kensa_needs_command" -f -a "export" -d 'Write journal records as a signed bundle (for carrying to a collector)'
complete -c kensa -n "__fish_kensa_needs_command" -f -a "verify" -d 'Check bundles: signature, header, seq continuity and hash chain'
complete -c kensa -n "__fish_kensa_needs_command" -f -a "trust" -d 'Manage the agent keys this collector trusts'
complete -c kensa -n "__fish_kensa_needs_command" -f -a "import" -d 'Import signed bundles into the collector database (<state>/kensa.db, or the PostgreSQL database of --database / [collector] database)'
complete -c kensa -n "__fish_kensa_needs_command" -f -a "forward" -d 'Send the collector\'s findings and scan sessions to a SIEM as OCSF or ECS events: to a file, stdout or syslog. Each destination keeps its own cursor in the database, so a re-run sends only what is new'
complete -c kensa -n "__fish_kensa_needs_command" -f -a "service" -d 'The Windows service (Windows only; on Linux the agent runs under systemd as kensa.service): install, uninstall, start, stop'
complete -c kensa -n "__fish_kensa_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kensa -n "__fish_kensa_using_subcommand scan" -s r -l rules -d 'Rule file or directory (repeatable); replaces the bundled signatures' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand scan" -s j -l threads -d 'Worker threads (default: one per core)' -r
complete -c kensa -n "__fish_kensa_using_subcommand scan" -l max-file-size -d 'Files above this size are hashed but not YARA-scanned (e.g. 100M)' -r
complete -c kensa -n "__fish_kensa_using_subcommand scan" -l timeout -d 'Per-file YARA timeout in seconds' -r
complete -c kensa -n "__fish_kensa_using_subcommand scan" -l read-timeout -d 'Per-file read deadline in seconds: a file not read to its end by then (an endless or hung source) is a `timeout` skip' -r
complete -c kensa -n "__fish_kensa_using_subcommand scan" -l archive-max-depth -d 'Deepest archive nesting opened (default 16)' -r
complete -c kensa -n "__fish_kensa_using_subcommand scan" -l archive-max-total -d 'Decompressed bytes allowed per top-level archive, all levels (e.g. 256M)' -r
complete -c kensa -n "__fish_kensa_using_subcommand scan" -l archive-max-member -d 'Largest single archive member scanned (e.g. 100M)' -r
complete -c kensa -n "__fish_kensa_using_subcommand scan" -l archive-max-time -d 'Seconds of decompression allowed per top-level archive' -r
complete -c kensa -n "__fish_kensa_using_subcommand scan" -l format -d 'Output format' -r -f -a "text\t'One line per finding, then totals'
json\t'JSON Lines: one record per line (session, finding, skip, summary)'"
complete -c kensa -n "__fish_kensa_using_subcommand scan" -l color -d 'Colour the verdicts: auto (on a terminal, unless NO_COLOR is set), always or never' -r -f -a "auto\t'When stdout is a terminal, `NO_COLOR` is unset and `TERM` is not `dumb`'
always\t''
never\t''"
complete -c kensa -n "__fish_kensa_using_subcommand scan" -l state-dir -d 'Where kensa keeps keys, the journal, caches and databases' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand scan" -l config -d 'Configuration file (TOML). Missing is fine unless named explicitly' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand scan" -l strict -d 'Fail (exit 2) when any rule file does not compile'
complete -c kensa -n "__fish_kensa_using_subcommand scan" -l one-file-system -d 'Stay on the file system of each path'
complete -c kensa -n "__fish_kensa_using_subcommand scan" -l no-archives -d 'Scan archives and office documents as plain files, without opening them'
complete -c kensa -n "__fish_kensa_using_subcommand scan" -l json -d 'Not an option: says to use `--format json` (a common guess)'
complete -c kensa -n "__fish_kensa_using_subcommand scan" -s q -l quiet -d 'Print only findings on stdout (text format); files not fully checked and errors still go to stderr'
complete -c kensa -n "__fish_kensa_using_subcommand scan" -l show-all-skips -d 'Also list skips made by design (symlinks, special files)'
complete -c kensa -n "__fish_kensa_using_subcommand scan" -l no-progress -d 'No progress display'
complete -c kensa -n "__fish_kensa_using_subcommand scan" -l journal -d 'Also append every record to the signed journal in <state>/journal (run `kensa keygen` first). A finding is printed only once it is on disk'
complete -c kensa -n "__fish_kensa_using_subcommand scan" -l removable -d 'Treat the paths as a removable medium rather than host directories (affects the default incident classification)'
complete -c kensa -n "__fish_kensa_using_subcommand scan" -s v -l verbose -d 'More log output from kensa (-v info, -vv debug; dependencies stay at warn; KENSA_LOG replaces the filter). Logs go to stderr, or to journald natively when run by systemd'
complete -c kensa -n "__fish_kensa_using_subcommand scan" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kensa -n "__fish_kensa_using_subcommand scan" -s V -l version -d 'Print version'
complete -c kensa -n "__fish_kensa_using_subcommand run" -l media-root -d 'Directory under which anything mounted is a medium (repeatable; replaces the configured media roots)' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand run" -l watch -d 'Host directory to watch for new files (repeatable; adds to the configured ones)' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand run" -s r -l rules -d 'Rule file or directory (repeatable); replaces the default rule set' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand run" -l read-timeout -d 'Per-file read deadline in seconds (replaces `[scan] read_timeout`)' -r
complete -c kensa -n "__fish_kensa_using_subcommand run" -l state-dir -d 'Where kensa keeps keys, the journal, caches and databases' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand run" -l config -d 'Configuration file (TOML). Missing is fine unless named explicitly' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand run" -l no-scan-present -d 'Do not scan media that are already mounted at start'
complete -c kensa -n "__fish_kensa_using_subcommand run" -l gate -d 'Turn the device gate on (as `[gate] enabled = true`): removable and USB block devices are held exclusively, so nothing can mount them, until a scan in user space judges them clean'
complete -c kensa -n "__fish_kensa_using_subcommand run" -s v -l verbose -d 'More log output from kensa (-v info, -vv debug; dependencies stay at warn; KENSA_LOG replaces the filter). Logs go to stderr, or to journald natively when run by systemd'
complete -c kensa -n "__fish_kensa_using_subcommand run" -s h -l help -d 'Print help'
complete -c kensa -n "__fish_kensa_using_subcommand run" -s V -l version -d 'Print version'
complete -c kensa -n "__fish_kensa_using_subcommand status" -l format -d 'Output format' -r -f -a "text\t''
json\t''"
complete -c kensa -n "__fish_kensa_using_subcommand status" -l sessions -d 'How many recent sessions to list' -r
complete -c kensa -n "__fish_kensa_using_subcommand status" -l state-dir -d 'Where kensa keeps keys, the journal, caches and databases' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand status" -l config -d 'Configuration file (TOML). Missing is fine unless named explicitly' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand status" -s v -l verbose -d 'More log output from kensa (-v info, -vv debug; dependencies stay at warn; KENSA_LOG replaces the filter). Logs go to stderr, or to journald natively when run by systemd'
complete -c kensa -n "__fish_kensa_using_subcommand status" -s h -l help -d 'Print help'
complete -c kensa -n "__fish_kensa_using_subcommand status" -s V -l version -d 'Print version'
complete -c kensa -n "__fish_kensa_using_subcommand release" -l by -d 'Who releases it (journalled)' -r
complete -c kensa -n "__fish_kensa_using_subcommand release" -l note -d 'Why (journalled)' -r
complete -c kensa -n "__fish_kensa_using_subcommand release" -l state-dir -d 'Where kensa keeps keys, the journal, caches and databases' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand release" -l config -d 'Configuration file (TOML). Missing is fine unless named explicitly' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand release" -s v -l verbose -d 'More log output from kensa (-v info, -vv debug; dependencies stay at warn; KENSA_LOG replaces the filter). Logs go to stderr, or to journald natively when run by systemd'
complete -c kensa -n "__fish_kensa_using_subcommand release" -s h -l help -d 'Print help'
complete -c kensa -n "__fish_kensa_using_subcommand release" -s V -l version -d 'Print version'
complete -c kensa -n "__fish_kensa_using_subcommand inspect" -l state-dir -d 'Where kensa keeps keys, the journal, caches and databases' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand inspect" -l config -d 'Configuration file (TOML). Missing is fine unless named explicitly' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand inspect" -l json -d 'One JSON object per line instead of text'
complete -c kensa -n "__fish_kensa_using_subcommand inspect" -s v -l verbose -d 'More log output from kensa (-v info, -vv debug; dependencies stay at warn; KENSA_LOG replaces the filter). Logs go to stderr, or to journald natively when run by systemd'
complete -c kensa -n "__fish_kensa_using_subcommand inspect" -s h -l help -d 'Print help'
complete -c kensa -n "__fish_kensa_using_subcommand inspect" -s V -l version -d 'Print version'
complete -c kensa -n "__fish_kensa_using_subcommand config; and not __fish_seen_subcommand_from default check help" -l state-dir -d 'Where kensa keeps keys, the journal, caches and databases' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand config; and not __fish_seen_subcommand_from default check help" -l config -d 'Configuration file (TOML). Missing is fine unless named explicitly' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand config; and not __fish_seen_subcommand_from default check help" -s v -l verbose -d 'More log output from kensa (-v info, -vv debug; dependencies stay at warn; KENSA_LOG replaces the filter). Logs go to stderr, or to journald natively when run by systemd'
complete -c kensa -n "__fish_kensa_using_subcommand config; and not __fish_seen_subcommand_from default check help" -s h -l help -d 'Print help'
complete -c kensa -n "__fish_kensa_using_subcommand config; and not __fish_seen_subcommand_from default check help" -s V -l version -d 'Print version'
complete -c kensa -n "__fish_kensa_using_subcommand config; and not __fish_seen_subcommand_from default check help" -f -a "default" -d 'Print the complete default configuration, commented'
complete -c kensa -n "__fish_kensa_using_subcommand config; and not __fish_seen_subcommand_from default check help" -f -a "check" -d 'Check a configuration file (default: --config): print `ok: FILE`, or every unknown key and bad value with its line (exit 2)'
complete -c kensa -n "__fish_kensa_using_subcommand config; and not __fish_seen_subcommand_from default check help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kensa -n "__fish_kensa_using_subcommand config; and __fish_seen_subcommand_from default" -l state-dir -d 'Where kensa keeps keys, the journal, caches and databases' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand config; and __fish_seen_subcommand_from default" -l config -d 'Configuration file (TOML). Missing is fine unless named explicitly' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand config; and __fish_seen_subcommand_from default" -s v -l verbose -d 'More log output from kensa (-v info, -vv debug; dependencies stay at warn; KENSA_LOG replaces the filter). Logs go to stderr, or to journald natively when run by systemd'
complete -c kensa -n "__fish_kensa_using_subcommand config; and __fish_seen_subcommand_from default" -s h -l help -d 'Print help'
complete -c kensa -n "__fish_kensa_using_subcommand config; and __fish_seen_subcommand_from default" -s V -l version -d 'Print version'
complete -c kensa -n "__fish_kensa_using_subcommand config; and __fish_seen_subcommand_from check" -l state-dir -d 'Where kensa keeps keys, the journal, caches and databases' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand config; and __fish_seen_subcommand_from check" -l config -d 'Configuration file (TOML). Missing is fine unless named explicitly' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand config; and __fish_seen_subcommand_from check" -l effective -d 'Print the configuration kensa will use (the file over the defaults) as TOML instead of `ok: FILE`'
complete -c kensa -n "__fish_kensa_using_subcommand config; and __fish_seen_subcommand_from check" -s v -l verbose -d 'More log output from kensa (-v info, -vv debug; dependencies stay at warn; KENSA_LOG replaces the filter). Logs go to stderr, or to journald natively when run by systemd'
complete -c kensa -n "__fish_kensa_using_subcommand config; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help'
complete -c kensa -n "__fish_kensa_using_subcommand config; and __fish_seen_subcommand_from check" -s V -l version -d 'Print version'
complete -c kensa -n "__fish_kensa_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "default" -d 'Print the complete default configuration, commented'
complete -c kensa -n "__fish_kensa_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "check" -d 'Check a configuration file (default: --config): print `ok: FILE`, or every unknown key and bad value with its line (exit 2)'
complete -c kensa -n "__fish_kensa_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kensa -n "__fish_kensa_using_subcommand incidents; and not __fish_seen_subcommand_from list show help" -l database -d 'The collector database: a postgresql:// URL (no password in it; sslmode=disable|prefer|require|verify-full, sslrootcert=FILE). Default: [collector] database in the config, else <state>/kensa.db' -r
complete -c kensa -n "__fish_kensa_using_subcommand incidents; and not __fish_seen_subcommand_from list show help" -l database-password-file -d 'A file whose first line is the PostgreSQL password (owner-only permissions). Default: [collector] password_file, else PGPASSFILE or ~/.pgpass' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand incidents; and not __fish_seen_subcommand_from list show help" -l state-dir -d 'Where kensa keeps keys, the journal, caches and databases' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand incidents; and not __fish_seen_subcommand_from list show help" -l config -d 'Configuration file (TOML). Missing is fine unless named explicitly' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand incidents; and not __fish_seen_subcommand_from list show help" -s v -l verbose -d 'More log output from kensa (-v info, -vv debug; dependencies stay at warn; KENSA_LOG replaces the filter). Logs go to stderr, or to journald natively when run by systemd'
complete -c kensa -n "__fish_kensa_using_subcommand incidents; and not __fish_seen_subcommand_from list show help" -s h -l help -d 'Print help'
complete -c kensa -n "__fish_kensa_using_subcommand incidents; and not __fish_seen_subcommand_from list show help" -s V -l version -d 'Print version'
complete -c kensa -n "__fish_kensa_using_subcommand incidents; and not __fish_seen_subcommand_from list show help" -f -a "list" -d 'One line per incident: id, agent (the name it is trusted under, else its id), host, medium, time, detections, current event and causes, triage state; filters combine'
complete -c kensa -n "__fish_kensa_using_subcommand incidents; and not __fish_seen_subcommand_from list show help" -f -a "show" -d 'The findings behind one incident and its whole triage history'
complete -c kensa -n "__fish_kensa_using_subcommand incidents; and not __fish_seen_subcommand_from list show help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kensa -n "__fish_kensa_using_subcommand incidents; and __fish_seen_subcommand_from list" -l state -d 'Only incidents in this triage state' -r -f -a "untriaged\t'Nobody has triaged it yet'
triaged\t'Triaged as a real incident'
false-positive\t'Triaged as a false positive (left out of the report)'"
complete -c kensa -n "__fish_kensa_using_subcommand incidents; and __fish_seen_subcommand_from list" -l agent -d 'Only this agent\'s incidents (an agent id, its prefix, or the name it is trusted under); an agent the collector does not know is an error' -r
complete -c kensa -n "__fish_kensa_using_subcommand incidents; and __fish_seen_subcommand_from list" -l since -d 'Only incidents from this date (YYYY-MM-DD, a day in the display time zone) or RFC 3339 time on' -r
complete -c kensa -n "__fish_kensa_using_subcommand incidents; and __fish_seen_subcommand_from list" -l until -d 'Only incidents up to and including this date (YYYY-MM-DD, the whole day in the display time zone) or RFC 3339 time' -r
complete -c kensa -n "__fish_kensa_using_subcommand incidents; and __fish_seen_subcommand_from list" -l event -d 'Only incidents whose current event is this code (`kensa taxonomy` lists them)' -r
complete -c kensa -n "__fish_kensa_using_subcommand incidents; and __fish_seen_subcommand_from list" -l format -d 'Output format' -r -f -a "text\t'One line per finding, then totals'
json\t'JSON Lines: one record per line (session, finding, skip, summary)'"
complete -c kensa -n "__fish_kensa_using_subcommand incidents; and __fish_seen_subcommand_from list" -l tz -d 'Time zone for displayed times (IANA name; default: report.timezone in the config, Asia/Tokyo)' -r
complete -c kensa -n "__fish_kensa_using_subcommand incidents; and __fish_seen_subcommand_from list" -l database -d 'The collector database: a postgresql:// URL (no password in it; sslmode=disable|prefer|require|verify-full, sslrootcert=FILE). Default: [collector] database in the config, else <state>/kensa.db' -r
complete -c kensa -n "__fish_kensa_using_subcommand incidents; and __fish_seen_subcommand_from list" -l database-password-file -d 'A file whose first line is the PostgreSQL password (owner-only permissions). Default: [collector] password_file, else PGPASSFILE or ~/.pgpass' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand incidents; and __fish_seen_subcommand_from list" -l state-dir -d 'Where kensa keeps keys, the journal, caches and databases' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand incidents; and __fish_seen_subcommand_from list" -l config -d 'Configuration file (TOML). Missing is fine unless named explicitly' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand incidents; and __fish_seen_subcommand_from list" -l untriaged -d 'Only incidents nobody has triaged yet (same as --state untriaged)'
complete -c kensa -n "__fish_kensa_using_subcommand incidents; and __fish_seen_subcommand_from list" -s v -l verbose -d 'More log output from kensa (-v info, -vv debug; dependencies stay at warn; KENSA_LOG replaces the filter). Logs go to stderr, or to journald natively when run by systemd'
complete -c kensa -n "__fish_kensa_using_subcommand incidents; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kensa -n "__fish_kensa_using_subcommand incidents; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c kensa -n "__fish_kensa_using_subcommand incidents; and __fish_seen_subcommand_from show" -l agent -d 'The agent whose incident is meant, when a session id is ambiguous (an agent id, its prefix, or the name it is trusted under)' -r
complete -c kensa -n "__fish_kensa_using_subcommand incidents; and __fish_seen_subcommand_from show" -l format -d 'Output format' -r -f -a "text\t'One line per finding, then totals'
json\t'JSON Lines: one record per line (session, finding, skip, summary)'"
complete -c kensa -n "__fish_kensa_using_subcommand incidents; and __fish_seen_subcommand_from show" -l tz -d 'Time zone for displayed times (IANA name; default: report.timezone in the config, Asia/Tokyo)' -r
complete -c kensa -n "__fish_kensa_using_subcommand incidents; and __fish_seen_subcommand_from show" -l database -d 'The collector database: a postgresql:// URL (no password in it; sslmode=disable|prefer|require|verify-full, sslrootcert=FILE). Default: [collector] database in the config, else <state>/kensa.db' -r
complete -c kensa -n "__fish_kensa_using_subcommand incidents; and __fish_seen_subcommand_from show" -l database-password-file -d 'A file whose first line is the PostgreSQL password (owner-only permissions). Default: [collector] password_file, else PGPASSFILE or ~/.pgpass' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand incidents; and __fish_seen_subcommand_from show" -l state-dir -d 'Where kensa keeps keys, the journal, caches and databases' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand incidents; and __fish_seen_subcommand_from show" -l config -d 'Configuration file (TOML). Missing is fine unless named explicitly' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand incidents; and __fish_seen_subcommand_from show" -s v -l verbose -d 'More log output from kensa (-v info, -vv debug; dependencies stay at warn; KENSA_LOG replaces the filter). Logs go to stderr, or to journald natively when run by systemd'
complete -c kensa -n "__fish_kensa_using_subcommand incidents; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kensa -n "__fish_kensa_using_subcommand incidents; and __fish_seen_subcommand_from show" -s V -l version -d 'Print version'
complete -c kensa -n "__fish_kensa_using_subcommand incidents; and __fish_seen_subcommand_from help" -f -a "list" -d 'One line per incident: id, agent (the name it is trusted under, else its id), host, medium, time, detections, current event and causes, triage state; filters combine'
complete -c kensa -n "__fish_kensa_using_subcommand incidents; and __fish_seen_subcommand_from help" -f -a "show" -d 'The findings behind one incident and its whole triage history'
complete -c kensa -n "__fish_kensa_using_subcommand incidents; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kensa -n "__fish_kensa_using_subcommand triage" -l agent -d 'The agent whose incident is meant, when a session id is ambiguous (an agent id, its prefix, or the name it is trusted under)' -r
complete -c kensa -n "__fish_kensa_using_subcommand triage" -l event -d 'Event code (precursor, leak, destruction, outage, malware_infection, code_execution, intrusion, other; `kensa taxonomy` lists them with their labels). Kept as is when omitted' -r
complete -c kensa -n "__fish_kensa_using_subcommand triage" -l cause -d 'Cause code; repeat or separate with commas for several (e.g. contractor_mismanagement, suspicious_file, unknown). Kept when omitted; when given, the causes listed replace all causes of the previous decision. `kensa taxonomy` lists every code' -r
complete -c kensa -n "__fish_kensa_using_subcommand triage" -l note -d 'Free-text note kept with this decision' -r
complete -c kensa -n "__fish_kensa_using_subcommand triage" -l by -d 'Who decided (default: $USER or $LOGNAME, else the system account name)' -r
complete -c kensa -n "__fish_kensa_using_subcommand triage" -l database -d 'The collector database: a postgresql:// URL (no password in it; sslmode=disable|prefer|require|verify-full, sslrootcert=FILE). Default: [collector] database in the config, else <state>/kensa.db' -r
complete -c kensa -n "__fish_kensa_using_subcommand triage" -l database-password-file -d 'A file whose first line is the PostgreSQL password (owner-only permissions). Default: [collector] password_file, else PGPASSFILE or ~/.pgpass' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand triage" -l state-dir -d 'Where kensa keeps keys, the journal, caches and databases' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand triage" -l config -d 'Configuration file (TOML). Missing is fine unless named explicitly' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand triage" -l false-positive -d 'Not a real incident: leave it out of the report'
complete -c kensa -n "__fish_kensa_using_subcommand triage" -s v -l verbose -d 'More log output from kensa (-v info, -vv debug; dependencies stay at warn; KENSA_LOG replaces the filter). Logs go to stderr, or to journald natively when run by systemd'
complete -c kensa -n "__fish_kensa_using_subcommand triage" -s h -l help -d 'Print help'
complete -c kensa -n "__fish_kensa_using_subcommand triage" -s V -l version -d 'Print version'
complete -c kensa -n "__fish_kensa_using_subcommand report" -l fy -d 'Fiscal year, four digits (FY N runs from 1 April N to 31 March N+1); not one that has not begun. Default: the fiscal year of the report date' -r
complete -c kensa -n "__fish_kensa_using_subcommand report" -l as-of -d 'Report date (YYYY-MM-DD); the quarter running then shows its count so far marked * (provisional), later quarters show —. Default: today in the report\'s time zone' -r
complete -c kensa -n "__fish_kensa_using_subcommand report" -l lang -d 'Label language: ja or en' -r
complete -c kensa -n "__fish_kensa_using_subcommand report" -l format -d 'text, markdown, csv, json or html (one self-contained file)' -r
complete -c kensa -n "__fish_kensa_using_subcommand report" -s o -l out -d 'Write to this file instead of stdout' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand report" -l tz -d 'Time zone for quarter boundaries (IANA name; default: report.timezone in the config, Asia/Tokyo)' -r
complete -c kensa -n "__fish_kensa_using_subcommand report" -l database -d 'The collector database: a postgresql:// URL (no password in it; sslmode=disable|prefer|require|verify-full, sslrootcert=FILE). Default: [collector] database in the config, else <state>/kensa.db' -r
complete -c kensa -n "__fish_kensa_using_subcommand report" -l database-password-file -d 'A file whose first line is the PostgreSQL password (owner-only permissions). Default: [collector] password_file, else PGPASSFILE or ~/.pgpass' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand report" -l state-dir -d 'Where kensa keeps keys, the journal, caches and databases' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand report" -l config -d 'Configuration file (TOML). Missing is fine unless named explicitly' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand report" -l no-bom -d 'CSV without the UTF-8 byte-order mark (the mark, written by default, makes Excel read the file as UTF-8; leave it out for tools)'
complete -c kensa -n "__fish_kensa_using_subcommand report" -s v -l verbose -d 'More log output from kensa (-v info, -vv debug; dependencies stay at warn; KENSA_LOG replaces the filter). Logs go to stderr, or to journald natively when run by systemd'
complete -c kensa -n "__fish_kensa_using_subcommand report" -s h -l help -d 'Print help'
complete -c kensa -n "__fish_kensa_using_subcommand report" -s V -l version -d 'Print version'
complete -c kensa -n "__fish_kensa_using_subcommand taxonomy" -l format -d 'Output format' -r -f -a "text\t'One line per finding, then totals'
json\t'JSON Lines: one record per line (session, finding, skip, summary)'"
complete -c kensa -n "__fish_kensa_using_subcommand taxonomy" -l state-dir -d 'Where kensa keeps keys, the journal, caches and databases' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand taxonomy" -l config -d 'Configuration file (TOML). Missing is fine unless named explicitly' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand taxonomy" -s v -l verbose -d 'More log output from kensa (-v info, -vv debug; dependencies stay at warn; KENSA_LOG replaces the filter). Logs go to stderr, or to journald natively when run by systemd'
complete -c kensa -n "__fish_kensa_using_subcommand taxonomy" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kensa -n "__fish_kensa_using_subcommand taxonomy" -s V -l version -d 'Print version'
complete -c kensa -n "__fish_kensa_using_subcommand generate" -l out -d 'Directory to write the files into (created if missing)' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand generate" -l state-dir -d 'Where kensa keeps keys, the journal, caches and databases' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand generate" -l config -d 'Configuration file (TOML). Missing is fine unless named explicitly' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand generate" -s v -l verbose -d 'More log output from kensa (-v info, -vv debug; dependencies stay at warn; KENSA_LOG replaces the filter). Logs go to stderr, or to journald natively when run by systemd'
complete -c kensa -n "__fish_kensa_using_subcommand generate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kensa -n "__fish_kensa_using_subcommand generate" -s V -l version -d 'Print version'
complete -c kensa -n "__fish_kensa_using_subcommand rules; and not __fish_seen_subcommand_from check pack trust list-trusted install status help" -l state-dir -d 'Where kensa keeps keys, the journal, caches and databases' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand rules; and not __fish_seen_subcommand_from check pack trust list-trusted install status help" -l config -d 'Configuration file (TOML). Missing is fine unless named explicitly' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand rules; and not __fish_seen_subcommand_from check pack trust list-trusted install status help" -s v -l verbose -d 'More log output from kensa (-v info, -vv debug; dependencies stay at warn; KENSA_LOG replaces the filter). Logs go to stderr, or to journald natively when run by systemd'
complete -c kensa -n "__fish_kensa_using_subcommand rules; and not __fish_seen_subcommand_from check pack trust list-trusted install status help" -s h -l help -d 'Print help'
complete -c kensa -n "__fish_kensa_using_subcommand rules; and not __fish_seen_subcommand_from check pack trust list-trusted install status help" -s V -l version -d 'Print version'
complete -c kensa -n "__fish_kensa_using_subcommand rules; and not __fish_seen_subcommand_from check pack trust list-trusted install status help" -f -a "check" -d 'Compile rule files and report, per file, errors and warnings'
complete -c kensa -n "__fish_kensa_using_subcommand rules; and not __fish_seen_subcommand_from check pack trust list-trusted install status help" -f -a "pack" -d 'Build a signed rule pack from a directory of rules and hash lists'
complete -c kensa -n "__fish_kensa_using_subcommand rules; and not __fish_seen_subcommand_from check pack trust list-trusted install status help" -f -a "trust" -d 'Trust a publisher public key (minisign .pub file) for rule packs'
complete -c kensa -n "__fish_kensa_using_subcommand rules; and not __fish_seen_subcommand_from check pack trust list-trusted install status help" -f -a "list-trusted" -d 'List the trusted publisher keys'
complete -c kensa -n "__fish_kensa_using_subcommand rules; and not __fish_seen_subcommand_from check pack trust list-trusted install status help" -f -a "install" -d 'Verify and install a signed rule pack (copied off the medium first)'
complete -c kensa -n "__fish_kensa_using_subcommand rules; and not __fish_seen_subcommand_from check pack trust list-trusted install status help" -f -a "status" -d 'Show the installed pack: version, digest, publisher, rule count'
complete -c kensa -n "__fish_kensa_using_subcommand rules; and not __fish_seen_subcommand_from check pack trust list-trusted install status help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kensa -n "__fish_kensa_using_subcommand rules; and __fish_seen_subcommand_from check" -l format -r -f -a "text\t'One line per finding, then totals'
json\t'JSON Lines: one record per line (session, finding, skip, summary)'"
complete -c kensa -n "__fish_kensa_using_subcommand rules; and __fish_seen_subcommand_from check" -l state-dir -d 'Where kensa keeps keys, the journal, caches and databases' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand rules; and __fish_seen_subcommand_from check" -l config -d 'Configuration file (TOML). Missing is fine unless named explicitly' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand rules; and __fish_seen_subcommand_from check" -s v -l verbose -d 'More log output from kensa (-v info, -vv debug; dependencies stay at warn; KENSA_LOG replaces the filter). Logs go to stderr, or to journald natively when run by systemd'
complete -c kensa -n "__fish_kensa_using_subcommand rules; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kensa -n "__fish_kensa_using_subcommand rules; and __fish_seen_subcommand_from check" -s V -l version -d 'Print version'
complete -c kensa -n "__fish_kensa_using_subcommand rules; and __fish_seen_subcommand_from pack" -l version -d 'Pack version; must be above the version installed on the agents' -r
complete -c kensa -n "__fish_kensa_using_subcommand rules; and __fish_seen_subcommand_from pack" -l key -d 'Publisher secret key from `minisign -G` (password-protected) or `minisign -G -W` (unencrypted)' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand rules; and __fish_seen_subcommand_from pack" -l password-file -d 'File holding the secret key\'s password (first line); the KENSA_PACK_PASSWORD environment variable works too' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand rules; and __fish_seen_subcommand_from pack" -l out -d 'Where to write the pack' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand rules; and __fish_seen_subcommand_from pack" -l state-dir -d 'Where kensa keeps keys, the journal, caches and databases' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand rules; and __fish_seen_subcommand_from pack" -l config -d 'Configuration file (TOML). Missing is fine unless named explicitly' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand rules; and __fish_seen_subcommand_from pack" -s v -l verbose -d 'More log output from kensa (-v info, -vv debug; dependencies stay at warn; KENSA_LOG replaces the filter). Logs go to stderr, or to journald natively when run by systemd'
complete -c kensa -n "__fish_kensa_using_subcommand rules; and __fish_seen_subcommand_from pack" -s h -l help -d 'Print help'
complete -c kensa -n "__fish_kensa_using_subcommand rules; and __fish_seen_subcommand_from pack" -s V -l version -d 'Print version'
complete -c kensa -n "__fish_kensa_using_subcommand rules; and __fish_seen_subcommand_from trust" -l state-dir -d 'Where kensa keeps keys, the journal, caches and databases' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand rules; and __fish_seen_subcommand_from trust" -l config -d 'Configuration file (TOML). Missing is fine unless named explicitly' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand rules; and __fish_seen_subcommand_from trust" -s v -l verbose -d 'More log output from kensa (-v info, -vv debug; dependencies stay at warn; KENSA_LOG replaces the filter). Logs go to stderr, or to journald natively when run by systemd'
complete -c kensa -n "__fish_kensa_using_subcommand rules; and __fish_seen_subcommand_from trust" -s h -l help -d 'Print help'
complete -c kensa -n "__fish_kensa_using_subcommand rules; and __fish_seen_subcommand_from trust" -s V -l version -d 'Print version'
complete -c kensa -n "__fish_kensa_using_subcommand rules; and __fish_seen_subcommand_from list-trusted" -l state-dir -d 'Where kensa keeps keys, the journal, caches and databases' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand rules; and __fish_seen_subcommand_from list-trusted" -l config -d 'Configuration file (TOML). Missing is fine unless named explicitly' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand rules; and __fish_seen_subcommand_from list-trusted" -s v -l verbose -d 'More log output from kensa (-v info, -vv debug; dependencies stay at warn; KENSA_LOG replaces the filter). Logs go to stderr, or to journald natively when run by systemd'
complete -c kensa -n "__fish_kensa_using_subcommand rules; and __fish_seen_subcommand_from list-trusted" -s h -l help -d 'Print help'
complete -c kensa -n "__fish_kensa_using_subcommand rules; and __fish_seen_subcommand_from list-trusted" -s V -l version -d 'Print version'
complete -c kensa -n "__fish_kensa_using_subcommand rules; and __fish_seen_subcommand_from install" -l state-dir -d 'Where kensa keeps keys, the journal, caches and databases' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand rules; and __fish_seen_subcommand_from install" -l config -d 'Configuration file (TOML). Missing is fine unless named explicitly' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand rules; and __fish_seen_subcommand_from install" -l allow-downgrade -d 'Accept a lower version, or the installed version with other content (recorded in the install log)'
complete -c kensa -n "__fish_kensa_using_subcommand rules; and __fish_seen_subcommand_from install" -s v -l verbose -d 'More log output from kensa (-v info, -vv debug; dependencies stay at warn; KENSA_LOG replaces the filter). Logs go to stderr, or to journald natively when run by systemd'
complete -c kensa -n "__fish_kensa_using_subcommand rules; and __fish_seen_subcommand_from install" -s h -l help -d 'Print help'
complete -c kensa -n "__fish_kensa_using_subcommand rules; and __fish_seen_subcommand_from install" -s V -l version -d 'Print version'
complete -c kensa -n "__fish_kensa_using_subcommand rules; and __fish_seen_subcommand_from status" -l format -r -f -a "text\t'One line per finding, then totals'
json\t'JSON Lines: one record per line (session, finding, skip, summary)'"
complete -c kensa -n "__fish_kensa_using_subcommand rules; and __fish_seen_subcommand_from status" -l state-dir -d 'Where kensa keeps keys, the journal, caches and databases' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand rules; and __fish_seen_subcommand_from status" -l config -d 'Configuration file (TOML). Missing is fine unless named explicitly' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand rules; and __fish_seen_subcommand_from status" -s v -l verbose -d 'More log output from kensa (-v info, -vv debug; dependencies stay at warn; KENSA_LOG replaces the filter). Logs go to stderr, or to journald natively when run by systemd'
complete -c kensa -n "__fish_kensa_using_subcommand rules; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kensa -n "__fish_kensa_using_subcommand rules; and __fish_seen_subcommand_from status" -s V -l version -d 'Print version'
complete -c kensa -n "__fish_kensa_using_subcommand rules; and __fish_seen_subcommand_from help" -f -a "check" -d 'Compile rule files and report, per file, errors and warnings'
complete -c kensa -n "__fish_kensa_using_subcommand rules; and __fish_seen_subcommand_from help" -f -a "pack" -d 'Build a signed rule pack from a directory of rules and hash lists'
complete -c kensa -n "__fish_kensa_using_subcommand rules; and __fish_seen_subcommand_from help" -f -a "trust" -d 'Trust a publisher public key (minisign .pub file) for rule packs'
complete -c kensa -n "__fish_kensa_using_subcommand rules; and __fish_seen_subcommand_from help" -f -a "list-trusted" -d 'List the trusted publisher keys'
complete -c kensa -n "__fish_kensa_using_subcommand rules; and __fish_seen_subcommand_from help" -f -a "install" -d 'Verify and install a signed rule pack (copied off the medium first)'
complete -c kensa -n "__fish_kensa_using_subcommand rules; and __fish_seen_subcommand_from help" -f -a "status" -d 'Show the installed pack: version, digest, publisher, rule count'
complete -c kensa -n "__fish_kensa_using_subcommand rules; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kensa -n "__fish_kensa_using_subcommand keygen" -l state-dir -d 'Where kensa keeps keys, the journal, caches and databases' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand keygen" -l config -d 'Configuration file (TOML). Missing is fine unless named explicitly' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand keygen" -l force -d 'Replace an existing key pair: the old key signs a journal record naming the new one (the agent id stays); a lost old key closes the journal and starts a new one'
complete -c kensa -n "__fish_kensa_using_subcommand keygen" -s v -l verbose -d 'More log output from kensa (-v info, -vv debug; dependencies stay at warn; KENSA_LOG replaces the filter). Logs go to stderr, or to journald natively when run by systemd'
complete -c kensa -n "__fish_kensa_using_subcommand keygen" -s h -l help -d 'Print help'
complete -c kensa -n "__fish_kensa_using_subcommand keygen" -s V -l version -d 'Print version'
complete -c kensa -n "__fish_kensa_using_subcommand export" -l out -d 'Directory to write the bundle and its .minisig into (e.g. a stick)' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand export" -l since -d 'Export from this seq on' -r
complete -c kensa -n "__fish_kensa_using_subcommand export" -l state-dir -d 'Where kensa keeps keys, the journal, caches and databases' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand export" -l config -d 'Configuration file (TOML). Missing is fine unless named explicitly' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand export" -l all -d 'Export the whole journal instead of what was not exported yet'
complete -c kensa -n "__fish_kensa_using_subcommand export" -s v -l verbose -d 'More log output from kensa (-v info, -vv debug; dependencies stay at warn; KENSA_LOG replaces the filter). Logs go to stderr, or to journald natively when run by systemd'
complete -c kensa -n "__fish_kensa_using_subcommand export" -s h -l help -d 'Print help'
complete -c kensa -n "__fish_kensa_using_subcommand export" -s V -l version -d 'Print version'
complete -c kensa -n "__fish_kensa_using_subcommand verify" -l pubkey -d 'The agent\'s public key (default: <state>/keys/agent.pub)' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand verify" -l state-dir -d 'Where kensa keeps keys, the journal, caches and databases' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand verify" -l config -d 'Configuration file (TOML). Missing is fine unless named explicitly' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand verify" -l journal -d 'Re-verify the agent\'s whole journal (<state>/journal) from its first line: every link and every checkpoint signature'
complete -c kensa -n "__fish_kensa_using_subcommand verify" -s v -l verbose -d 'More log output from kensa (-v info, -vv debug; dependencies stay at warn; KENSA_LOG replaces the filter). Logs go to stderr, or to journald natively when run by systemd'
complete -c kensa -n "__fish_kensa_using_subcommand verify" -s h -l help -d 'Print help'
complete -c kensa -n "__fish_kensa_using_subcommand verify" -s V -l version -d 'Print version'
complete -c kensa -n "__fish_kensa_using_subcommand trust; and not __fish_seen_subcommand_from add list remove help" -l database -d 'The collector database: a postgresql:// URL (no password in it; sslmode=disable|prefer|require|verify-full, sslrootcert=FILE). Default: [collector] database in the config, else <state>/kensa.db' -r
complete -c kensa -n "__fish_kensa_using_subcommand trust; and not __fish_seen_subcommand_from add list remove help" -l database-password-file -d 'A file whose first line is the PostgreSQL password (owner-only permissions). Default: [collector] password_file, else PGPASSFILE or ~/.pgpass' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand trust; and not __fish_seen_subcommand_from add list remove help" -l state-dir -d 'Where kensa keeps keys, the journal, caches and databases' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand trust; and not __fish_seen_subcommand_from add list remove help" -l config -d 'Configuration file (TOML). Missing is fine unless named explicitly' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand trust; and not __fish_seen_subcommand_from add list remove help" -s v -l verbose -d 'More log output from kensa (-v info, -vv debug; dependencies stay at warn; KENSA_LOG replaces the filter). Logs go to stderr, or to journald natively when run by systemd'
complete -c kensa -n "__fish_kensa_using_subcommand trust; and not __fish_seen_subcommand_from add list remove help" -s h -l help -d 'Print help'
complete -c kensa -n "__fish_kensa_using_subcommand trust; and not __fish_seen_subcommand_from add list remove help" -s V -l version -d 'Print version'
complete -c kensa -n "__fish_kensa_using_subcommand trust; and not __fish_seen_subcommand_from add list remove help" -f -a "add" -d 'Trust an agent\'s public key (its agent.pub file)'
complete -c kensa -n "__fish_kensa_using_subcommand trust; and not __fish_seen_subcommand_from add list remove help" -f -a "list" -d 'List trusted keys'
complete -c kensa -n "__fish_kensa_using_subcommand trust; and not __fish_seen_subcommand_from add list remove help" -f -a "remove" -d 'Stop trusting a key (by agent id or name); imported records stay'
complete -c kensa -n "__fish_kensa_using_subcommand trust; and not __fish_seen_subcommand_from add list remove help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kensa -n "__fish_kensa_using_subcommand trust; and __fish_seen_subcommand_from add" -l name -d 'A unique name for the agent (e.g. the plant or PC)' -r
complete -c kensa -n "__fish_kensa_using_subcommand trust; and __fish_seen_subcommand_from add" -l database -d 'The collector database: a postgresql:// URL (no password in it; sslmode=disable|prefer|require|verify-full, sslrootcert=FILE). Default: [collector] database in the config, else <state>/kensa.db' -r
complete -c kensa -n "__fish_kensa_using_subcommand trust; and __fish_seen_subcommand_from add" -l database-password-file -d 'A file whose first line is the PostgreSQL password (owner-only permissions). Default: [collector] password_file, else PGPASSFILE or ~/.pgpass' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand trust; and __fish_seen_subcommand_from add" -l state-dir -d 'Where kensa keeps keys, the journal, caches and databases' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand trust; and __fish_seen_subcommand_from add" -l config -d 'Configuration file (TOML). Missing is fine unless named explicitly' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand trust; and __fish_seen_subcommand_from add" -s v -l verbose -d 'More log output from kensa (-v info, -vv debug; dependencies stay at warn; KENSA_LOG replaces the filter). Logs go to stderr, or to journald natively when run by systemd'
complete -c kensa -n "__fish_kensa_using_subcommand trust; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help'
complete -c kensa -n "__fish_kensa_using_subcommand trust; and __fish_seen_subcommand_from add" -s V -l version -d 'Print version'
complete -c kensa -n "__fish_kensa_using_subcommand trust; and __fish_seen_subcommand_from list" -l database -d 'The collector database: a postgresql:// URL (no password in it; sslmode=disable|prefer|require|verify-full, sslrootcert=FILE). Default: [collector] database in the config, else <state>/kensa.db' -r
complete -c kensa -n "__fish_kensa_using_subcommand trust; and __fish_seen_subcommand_from list" -l database-password-file -d 'A file whose first line is the PostgreSQL password (owner-only permissions). Default: [collector] password_file, else PGPASSFILE or ~/.pgpass' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand trust; and __fish_seen_subcommand_from list" -l state-dir -d 'Where kensa keeps keys, the journal, caches and databases' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand trust; and __fish_seen_subcommand_from list" -l config -d 'Configuration file (TOML). Missing is fine unless named explicitly' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand trust; and __fish_seen_subcommand_from list" -s v -l verbose -d 'More log output from kensa (-v info, -vv debug; dependencies stay at warn; KENSA_LOG replaces the filter). Logs go to stderr, or to journald natively when run by systemd'
complete -c kensa -n "__fish_kensa_using_subcommand trust; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c kensa -n "__fish_kensa_using_subcommand trust; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c kensa -n "__fish_kensa_using_subcommand trust; and __fish_seen_subcommand_from remove" -l database -d 'The collector database: a postgresql:// URL (no password in it; sslmode=disable|prefer|require|verify-full, sslrootcert=FILE). Default: [collector] database in the config, else <state>/kensa.db' -r
complete -c kensa -n "__fish_kensa_using_subcommand trust; and __fish_seen_subcommand_from remove" -l database-password-file -d 'A file whose first line is the PostgreSQL password (owner-only permissions). Default: [collector] password_file, else PGPASSFILE or ~/.pgpass' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand trust; and __fish_seen_subcommand_from remove" -l state-dir -d 'Where kensa keeps keys, the journal, caches and databases' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand trust; and __fish_seen_subcommand_from remove" -l config -d 'Configuration file (TOML). Missing is fine unless named explicitly' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand trust; and __fish_seen_subcommand_from remove" -s v -l verbose -d 'More log output from kensa (-v info, -vv debug; dependencies stay at warn; KENSA_LOG replaces the filter). Logs go to stderr, or to journald natively when run by systemd'
complete -c kensa -n "__fish_kensa_using_subcommand trust; and __fish_seen_subcommand_from remove" -s h -l help -d 'Print help'
complete -c kensa -n "__fish_kensa_using_subcommand trust; and __fish_seen_subcommand_from remove" -s V -l version -d 'Print version'
complete -c kensa -n "__fish_kensa_using_subcommand trust; and __fish_seen_subcommand_from help" -f -a "add" -d 'Trust an agent\'s public key (its agent.pub file)'
complete -c kensa -n "__fish_kensa_using_subcommand trust; and __fish_seen_subcommand_from help" -f -a "list" -d 'List trusted keys'
complete -c kensa -n "__fish_kensa_using_subcommand trust; and __fish_seen_subcommand_from help" -f -a "remove" -d 'Stop trusting a key (by agent id or name); imported records stay'
complete -c kensa -n "__fish_kensa_using_subcommand trust; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kensa -n "__fish_kensa_using_subcommand import" -l database -d 'The collector database: a postgresql:// URL (no password in it; sslmode=disable|prefer|require|verify-full, sslrootcert=FILE). Default: [collector] database in the config, else <state>/kensa.db' -r
complete -c kensa -n "__fish_kensa_using_subcommand import" -l database-password-file -d 'A file whose first line is the PostgreSQL password (owner-only permissions). Default: [collector] password_file, else PGPASSFILE or ~/.pgpass' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand import" -l state-dir -d 'Where kensa keeps keys, the journal, caches and databases' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand import" -l config -d 'Configuration file (TOML). Missing is fine unless named explicitly' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand import" -s v -l verbose -d 'More log output from kensa (-v info, -vv debug; dependencies stay at warn; KENSA_LOG replaces the filter). Logs go to stderr, or to journald natively when run by systemd'
complete -c kensa -n "__fish_kensa_using_subcommand import" -s h -l help -d 'Print help'
complete -c kensa -n "__fish_kensa_using_subcommand import" -s V -l version -d 'Print version'
complete -c kensa -n "__fish_kensa_using_subcommand forward" -l format -d 'Event format: ocsf (OCSF 1.8.0) or ecs (Elastic Common Schema, NDJSON for the bulk API)' -r -f -a "ocsf\t'OCSF 1.8.0: Detection Finding (2004) per finding, Scan Activity (6007) per session start and end; one JSON object per line'
ecs\t'Elastic Common Schema: NDJSON for Elasticsearch\'s bulk API (a `create` action line before each document)'"
complete -c kensa -n "__fish_kensa_using_subcommand forward" -s o -l out -d 'Append the events to this file (created mode 0640), or write them to stdout with `-`' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand forward" -l syslog -d 'Send the events as RFC 5424 messages: unix:PATH, tcp:HOST:PORT (octet-counted framing) or udp:HOST:PORT' -r
complete -c kensa -n "__fish_kensa_using_subcommand forward" -l database -d 'The collector database: a postgresql:// URL (no password in it; sslmode=disable|prefer|require|verify-full, sslrootcert=FILE). Default: [collector] database in the config, else <state>/kensa.db' -r
complete -c kensa -n "__fish_kensa_using_subcommand forward" -l database-password-file -d 'A file whose first line is the PostgreSQL password (owner-only permissions). Default: [collector] password_file, else PGPASSFILE or ~/.pgpass' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand forward" -l state-dir -d 'Where kensa keeps keys, the journal, caches and databases' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand forward" -l config -d 'Configuration file (TOML). Missing is fine unless named explicitly' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand forward" -l all -d 'Send everything held again, not only what this destination has not had'
complete -c kensa -n "__fish_kensa_using_subcommand forward" -s v -l verbose -d 'More log output from kensa (-v info, -vv debug; dependencies stay at warn; KENSA_LOG replaces the filter). Logs go to stderr, or to journald natively when run by systemd'
complete -c kensa -n "__fish_kensa_using_subcommand forward" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kensa -n "__fish_kensa_using_subcommand forward" -s V -l version -d 'Print version'
complete -c kensa -n "__fish_kensa_using_subcommand service; and not __fish_seen_subcommand_from install uninstall start stop run help" -l state-dir -d 'Where kensa keeps keys, the journal, caches and databases' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand service; and not __fish_seen_subcommand_from install uninstall start stop run help" -l config -d 'Configuration file (TOML). Missing is fine unless named explicitly' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand service; and not __fish_seen_subcommand_from install uninstall start stop run help" -s v -l verbose -d 'More log output from kensa (-v info, -vv debug; dependencies stay at warn; KENSA_LOG replaces the filter). Logs go to stderr, or to journald natively when run by systemd'
complete -c kensa -n "__fish_kensa_using_subcommand service; and not __fish_seen_subcommand_from install uninstall start stop run help" -s h -l help -d 'Print help'
complete -c kensa -n "__fish_kensa_using_subcommand service; and not __fish_seen_subcommand_from install uninstall start stop run help" -s V -l version -d 'Print version'
complete -c kensa -n "__fish_kensa_using_subcommand service; and not __fish_seen_subcommand_from install uninstall start stop run help" -f -a "install" -d 'Register the service (automatic start) with this kensa.exe, the configuration file (when it exists) and the state folder; the state folder gets the SYSTEM-and-Administrators-only access list'
complete -c kensa -n "__fish_kensa_using_subcommand service; and not __fish_seen_subcommand_from install uninstall start stop run help" -f -a "uninstall" -d 'Stop the service if it runs and delete it (the state folder stays)'
complete -c kensa -n "__fish_kensa_using_subcommand service; and not __fish_seen_subcommand_from install uninstall start stop run help" -f -a "start" -d 'Start the service and wait until the agent runs (at most 120 s)'
complete -c kensa -n "__fish_kensa_using_subcommand service; and not __fish_seen_subcommand_from install uninstall start stop run help" -f -a "stop" -d 'Stop the service and wait until it stopped (at most 30 s)'
complete -c kensa -n "__fish_kensa_using_subcommand service; and not __fish_seen_subcommand_from install uninstall start stop run help" -f -a "run" -d 'The entry point the service control manager starts (not for a console: use `kensa run` there). Stop and shutdown stop the agent cleanly; `sc control kensa paramchange` reloads it'
complete -c kensa -n "__fish_kensa_using_subcommand service; and not __fish_seen_subcommand_from install uninstall start stop run help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kensa -n "__fish_kensa_using_subcommand service; and __fish_seen_subcommand_from install" -l state-dir -d 'Where kensa keeps keys, the journal, caches and databases' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand service; and __fish_seen_subcommand_from install" -l config -d 'Configuration file (TOML). Missing is fine unless named explicitly' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand service; and __fish_seen_subcommand_from install" -s v -l verbose -d 'More log output from kensa (-v info, -vv debug; dependencies stay at warn; KENSA_LOG replaces the filter). Logs go to stderr, or to journald natively when run by systemd'
complete -c kensa -n "__fish_kensa_using_subcommand service; and __fish_seen_subcommand_from install" -s h -l help -d 'Print help'
complete -c kensa -n "__fish_kensa_using_subcommand service; and __fish_seen_subcommand_from install" -s V -l version -d 'Print version'
complete -c kensa -n "__fish_kensa_using_subcommand service; and __fish_seen_subcommand_from uninstall" -l state-dir -d 'Where kensa keeps keys, the journal, caches and databases' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand service; and __fish_seen_subcommand_from uninstall" -l config -d 'Configuration file (TOML). Missing is fine unless named explicitly' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand service; and __fish_seen_subcommand_from uninstall" -s v -l verbose -d 'More log output from kensa (-v info, -vv debug; dependencies stay at warn; KENSA_LOG replaces the filter). Logs go to stderr, or to journald natively when run by systemd'
complete -c kensa -n "__fish_kensa_using_subcommand service; and __fish_seen_subcommand_from uninstall" -s h -l help -d 'Print help'
complete -c kensa -n "__fish_kensa_using_subcommand service; and __fish_seen_subcommand_from uninstall" -s V -l version -d 'Print version'
complete -c kensa -n "__fish_kensa_using_subcommand service; and __fish_seen_subcommand_from start" -l state-dir -d 'Where kensa keeps keys, the journal, caches and databases' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand service; and __fish_seen_subcommand_from start" -l config -d 'Configuration file (TOML). Missing is fine unless named explicitly' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand service; and __fish_seen_subcommand_from start" -s v -l verbose -d 'More log output from kensa (-v info, -vv debug; dependencies stay at warn; KENSA_LOG replaces the filter). Logs go to stderr, or to journald natively when run by systemd'
complete -c kensa -n "__fish_kensa_using_subcommand service; and __fish_seen_subcommand_from start" -s h -l help -d 'Print help'
complete -c kensa -n "__fish_kensa_using_subcommand service; and __fish_seen_subcommand_from start" -s V -l version -d 'Print version'
complete -c kensa -n "__fish_kensa_using_subcommand service; and __fish_seen_subcommand_from stop" -l state-dir -d 'Where kensa keeps keys, the journal, caches and databases' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand service; and __fish_seen_subcommand_from stop" -l config -d 'Configuration file (TOML). Missing is fine unless named explicitly' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand service; and __fish_seen_subcommand_from stop" -s v -l verbose -d 'More log output from kensa (-v info, -vv debug; dependencies stay at warn; KENSA_LOG replaces the filter). Logs go to stderr, or to journald natively when run by systemd'
complete -c kensa -n "__fish_kensa_using_subcommand service; and __fish_seen_subcommand_from stop" -s h -l help -d 'Print help'
complete -c kensa -n "__fish_kensa_using_subcommand service; and __fish_seen_subcommand_from stop" -s V -l version -d 'Print version'
complete -c kensa -n "__fish_kensa_using_subcommand service; and __fish_seen_subcommand_from run" -l state-dir -d 'Where kensa keeps keys, the journal, caches and databases' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand service; and __fish_seen_subcommand_from run" -l config -d 'Configuration file (TOML). Missing is fine unless named explicitly' -r -F
complete -c kensa -n "__fish_kensa_using_subcommand service; and __fish_seen_subcommand_from run" -s v -l verbose -d 'More log output from kensa (-v info, -vv debug; dependencies stay at warn; KENSA_LOG replaces the filter). Logs go to stderr, or to journald natively when run by systemd'
complete -c kensa -n "__fish_kensa_using_subcommand service; and __fish_seen_subcommand_from run" -s h -l help -d 'Print help'
complete -c kensa -n "__fish_kensa_using_subcommand service; and __fish_seen_subcommand_from run" -s V -l version -d 'Print version'
complete -c kensa -n "__fish_kensa_using_subcommand service; and __fish_seen_subcommand_from help" -f -a "install" -d 'Register the service (automatic start) with this kensa.exe, the configuration file (when it exists) and the state folder; the state folder gets the SYSTEM-and-Administrators-only access list'
complete -c kensa -n "__fish_kensa_using_subcommand service; and __fish_seen_subcommand_from help" -f -a "uninstall" -d 'Stop the service if it runs and delete it (the state folder stays)'
complete -c kensa -n "__fish_kensa_using_subcommand service; and __fish_seen_subcommand_from help" -f -a "start" -d 'Start the service and wait until the agent runs (at most 120 s)'
complete -c kensa -n "__fish_kensa_using_subcommand service; and __fish_seen_subcommand_from help" -f -a "stop" -d 'Stop the service and wait until it stopped (at most 30 s)'
complete -c kensa -n "__fish_kensa_using_subcommand service; and __fish_seen_subcommand_from help" -f -a "run" -d 'The entry point the service control manager starts (not for a console: use `kensa run` there). Stop and shutdown stop the agent cleanly; `sc control kensa paramchange` reloads it'
complete -c kensa -n "__fish_kensa_using_subcommand service; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kensa -n "__fish_kensa_using_subcommand help; and not __fish_seen_subcommand_from scan run status release inspect config incidents triage report taxonomy generate rules keygen export verify trust import forward service help" -f -a "scan" -d 'Scan files and directories: SHA-256, YARA rules and hash lists'
complete -c kensa -n "__fish_kensa_using_subcommand help; and not __fish_seen_subcommand_from scan run status release inspect config incidents triage report taxonomy generate rules keygen export verify trust import forward service help" -f -a "run" -d 'Run the agent: scan media as they are mounted and watched directories as files arrive; journal everything (SIGHUP reloads, SIGTERM stops)'
complete -c kensa -n "__fish_kensa_using_subcommand help; and not __fish_seen_subcommand_from scan run status release inspect config incidents triage report taxonomy generate rules keygen export verify trust import forward service help" -f -a "status" -d 'Show the agent\'s state: whether one is running (its pid), rules, key, journal head, unexported records, the last medium\'s verdict and recent sessions (times in report.timezone). Creates nothing'
complete -c kensa -n "__fish_kensa_using_subcommand help; and not __fish_seen_subcommand_from scan run status release inspect config incidents triage report taxonomy generate rules keygen export verify trust import forward service help" -f -a "release" -d 'Let the running agent\'s device gate release a held (blocked) device: an override by a named person, journalled with the note. The device is then mounted or handed to the automounter as a clean one would be'
complete -c kensa -n "__fish_kensa_using_subcommand help; and not __fish_seen_subcommand_from scan run status release inspect config incidents triage report taxonomy generate rules keygen export verify trust import forward service help" -f -a "inspect" -d 'List what is on a disk or disk image (partitions, volumes, every file with its SHA-256) without mounting it and without rules'
complete -c kensa -n "__fish_kensa_using_subcommand help; and not __fish_seen_subcommand_from scan run status release inspect config incidents triage report taxonomy generate rules keygen export verify trust import forward service help" -f -a "config" -d 'Configuration helpers'
complete -c kensa -n "__fish_kensa_using_subcommand help; and not __fish_seen_subcommand_from scan run status release inspect config incidents triage report taxonomy generate rules keygen export verify trust import forward service help" -f -a "incidents" -d 'List incidents (scan sessions with detections) in the collector store, or show the findings and triage history behind one'
complete -c kensa -n "__fish_kensa_using_subcommand help; and not __fish_seen_subcommand_from scan run status release inspect config incidents triage report taxonomy generate rules keygen export verify trust import forward service help" -f -a "triage" -d 'Classify an incident under the NISC taxonomy (event and causes), or mark it a false positive. Every triage is kept; the latest counts'
complete -c kensa -n "__fish_kensa_using_subcommand help; and not __fish_seen_subcommand_from scan run status release inspect config incidents triage report taxonomy generate rules keygen export verify trust import forward service help" -f -a "report" -d 'The NISC quarterly report: incident count, incidents by event type and by cause, for the four previous fiscal years and the year\'s quarters'
complete -c kensa -n "__fish_kensa_using_subcommand help; and not __fish_seen_subcommand_from scan run status release inspect config incidents triage report taxonomy generate rules keygen export verify trust import forward service help" -f -a "taxonomy" -d 'List the NISC taxonomy: every event and cause code that `triage` accepts, with its Japanese and English labels'
complete -c kensa -n "__fish_kensa_using_subcommand help; and not __fish_seen_subcommand_from scan run status release inspect config incidents triage report taxonomy generate rules keygen export verify trust import forward service help" -f -a "generate" -d 'Write the man pages or shell completions, generated from this command line (the .deb ships them; packaging/ holds copies)'
complete -c kensa -n "__fish_kensa_using_subcommand help; and not __fish_seen_subcommand_from scan run status release inspect config incidents triage report taxonomy generate rules keygen export verify trust import forward service help" -f -a "rules" -d 'Rule sets: check rule files, build, trust and install signed packs'
complete -c kensa -n "__fish_kensa_using_subcommand help; and not __fish_seen_subcommand_from scan run status release inspect config incidents triage report taxonomy generate rules keygen export verify trust import forward service help" -f -a "keygen" -d 'Create the agent\'s Ed25519 key pair (minisign format) under <state>/keys'
complete -c kensa -n "__fish_kensa_using_subcommand help; and not __fish_seen_subcommand_from scan run status release inspect config incidents triage report taxonomy generate rules keygen export verify trust import forward service help" -f -a "export" -d 'Write journal records as a signed bundle (for carrying to a collector)'
complete -c kensa -n "__fish_kensa_using_subcommand help; and not __fish_seen_subcommand_from scan run status release inspect config incidents triage report taxonomy generate rules keygen export verify trust import forward service help" -f -a "verify" -d 'Check bundles: signature, header, seq continuity and hash chain'
complete -c kensa -n "__fish_kensa_using_subcommand help; and not __fish_seen_subcommand_from scan run status release inspect config incidents triage report taxonomy generate rules keygen export verify trust import forward service help" -f -a "trust" -d 'Manage the agent keys this collector trusts'
complete -c kensa -n "__fish_kensa_using_subcommand help; and not __fish_seen_subcommand_from scan run status release inspect config incidents triage report taxonomy generate rules keygen export verify trust import forward service help" -f -a "import" -d 'Import signed bundles into the collector database (<state>/kensa.db, or the PostgreSQL database of --database / [collector] database)'
complete -c kensa -n "__fish_kensa_using_subcommand help; and not __fish_seen_subcommand_from scan run status release inspect config incidents triage report taxonomy generate rules keygen export verify trust import forward service help" -f -a "forward" -d 'Send the collector\'s findings and scan sessions to a SIEM as OCSF or ECS events: to a file, stdout or syslog. Each destination keeps its own cursor in the database, so a re-run sends only what is new'
complete -c kensa -n "__fish_kensa_using_subcommand help; and not __fish_seen_subcommand_from scan run status release inspect config incidents triage report taxonomy generate rules keygen export verify trust import forward service help" -f -a "service" -d 'The Windows service (Windows only; on Linux the agent runs under systemd as kensa.service): install, uninstall, start, stop'
complete -c kensa -n "__fish_kensa_using_subcommand help; and not __fish_seen_subcommand_from scan run status release inspect config incidents triage report taxonomy generate rules keygen export verify trust import forward service help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kensa -n "__fish_kensa_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "default" -d 'Print the complete default configuration, commented'
complete -c kensa -n "__fish_kensa_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "check" -d 'Check a configuration file (default: --config): print `ok: FILE`, or every unknown key and bad value with its line (exit 2)'
complete -c kensa -n "__fish_kensa_using_subcommand help; and __fish_seen_subcommand_from incidents" -f -a "list" -d 'One line per incident: id, agent (the name it is trusted under, else its id), host, medium, time, detections, current event and causes, triage state; filters combine'
complete -c kensa -n "__fish_kensa_using_subcommand help; and __fish_seen_subcommand_from incidents" -f -a "show" -d 'The findings behind one incident and its whole triage history'
complete -c kensa -n "__fish_kensa_using_subcommand help; and __fish_seen_subcommand_from rules" -f -a "check" -d 'Compile rule files and report, per file, errors and warnings'
complete -c kensa -n "__fish_kensa_using_subcommand help; and __fish_seen_subcommand_from rules" -f -a "pack" -d 'Build a signed rule pack from a directory of rules and hash lists'
complete -c kensa -n "__fish_kensa_using_subcommand help; and __fish_seen_subcommand_from rules" -f -a "trust" -d 'Trust a publisher public key (minisign .pub file) for rule packs'
complete -c kensa -n "__fish_kensa_using_subcommand help; and __fish_seen_subcommand_from rules" -f -a "list-trusted" -d 'List the trusted publisher keys'
complete -c kensa -n "__fish_kensa_using_subcommand help; and __fish_seen_subcommand_from rules" -f -a "install" -d 'Verify and install a signed rule pack (copied off the medium first)'
complete -c kensa -n "__fish_kensa_using_subcommand help; and __fish_seen_subcommand_from rules" -f -a "status" -d 'Show the installed pack: version, digest, publisher, rule count'
complete -c kensa -n "__fish_kensa_using_subcommand help; and __fish_seen_subcommand_from trust" -f -a "add" -d 'Trust an agent\'s public key (its agent.pub file)'
complete -c kensa -n "__fish_kensa_using_subcommand help; and __fish_seen_subcommand_from trust" -f -a "list" -d 'List trusted keys'
complete -c kensa -n "__fish_kensa_using_subcommand help; and __fish_seen_subcommand_from trust" -f -a "remove" -d 'Stop trusting a key (by agent id or name); imported records stay'
complete -c kensa -n "__fish_kensa_using_subcommand help; and __fish_seen_subcommand_from service" -f -a "install" -d 'Register the service (automatic start) with this kensa.exe, the configuration file (when it exists) and the state folder; the state folder gets the SYSTEM-and-Administrators-only access list'
complete -c kensa -n "__fish_kensa_using_subcommand help; and __fish_seen_subcommand_from service" -f -a "uninstall" -d 'Stop the service if it runs and delete it (the state folder stays)'
complete -c kensa -n "__fish_kensa_using_subcommand help; and __fish_seen_subcommand_from service" -f -a "start" -d 'Start the service and wait until the agent runs (at most 120 s)'
complete -c kensa -n "__fish_kensa_using_subcommand help; and __fish_seen_subcommand_from service" -f -a "stop" -d 'Stop the service and wait until it stopped (at most 30 s)'
complete -c kensa -n "__fish_kensa_using_subcommand help; and __fish_seen_subcommand_from service" -f -a "run" -d 'The entry point the service control manager starts (not for a console: use `kensa run` there). Stop and shutdown stop the agent cleanly; `sc control kensa paramchange` reloads it'
